import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore, type Principal, type QueueId, scopesForRole, systemPrincipal } from '../src/index.ts';
import { must } from '../src/testing.ts';

/**
 * The service methods the config file applies itself through run as the system principal; called
 * by anyone else (a member, even one with every member scope) they refuse and change nothing.
 */
describe('methods the config file uses', () => {
  let database: TestDatabase;
  let core: Core;
  let member: Principal;
  let queueId: QueueId;

  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({ db: database.client.db });
    const user = must(await core.users.create(systemPrincipal, { username: 'mallory', password: 'mallory-password' }));
    member = { user, via: 'password', scopes: scopesForRole('member') };
    queueId = must(await core.queues.create(systemPrincipal, { name: 'kept' }, 'api')).id;
  });
  afterAll(async () => {
    await core.stop();
    await database.drop();
  });

  it('refuse a member with FORBIDDEN and leave queues, listeners, users and subscriptions as they were', async () => {
    const refused = [
      await core.queues.adoptForConfig(member, queueId),
      await core.queues.addListeners(member, [{ queueId, userId: member.user.id }]),
      await core.subscriptions.listForConfig(member, { managedBy: 'config' }),
      await core.users.findAccount(member, 'mallory'),
      await core.users.oldestAdmin(member),
      await core.users.applyConfigUsers(member, [
        { username: 'eve', passHash: 'plain;;eve-password', canReload: true },
      ]),
    ];
    expect(refused.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(Array(refused.length).fill('FORBIDDEN'));

    const [queue] = must(await core.queues.list(systemPrincipal));
    expect(queue).toMatchObject({ name: 'kept', managedBy: 'api' });
    expect(must(await core.queues.listListeners(systemPrincipal, queueId))).toEqual([]);
    expect(await core.users.findByUsername('eve')).toBeNull();
  });

  it('answer the system principal (the check above refuses by who asks, not by what)', async () => {
    must(await core.queues.adoptForConfig(systemPrincipal, queueId));
    const [queue] = must(await core.queues.list(systemPrincipal));
    expect(queue?.managedBy).toBe('config');
    expect(must(await core.users.oldestAdmin(systemPrincipal))).toBeNull();
  });
});
