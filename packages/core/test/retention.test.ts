import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore, type Principal, systemPrincipal } from '../src/index.ts';

describe('retention by age', () => {
  let database: TestDatabase;
  let core: Core;
  let now = new Date('2026-01-01T00:00:00Z');
  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({ db: database.client.db, clock: { now: () => now } });
    await core.registry.start();
  });
  afterAll(async () => {
    await database.drop();
  });

  const post = (queue: string, body: string) =>
    core.ingest.ingest(queue, { body: Buffer.from(body), headers: {}, query: {}, sourceIp: '127.0.0.1' });

  it('removes messages older than the queue keeps them, and a client that missed them is told to refresh', async () => {
    const created = await core.queues.create(systemPrincipal, { name: 'aging', retentionSeconds: 60 });
    expect(created.ok).toBe(true);
    const user = await core.users.create(systemPrincipal, {
      username: 'reader',
      password: 'reader-password',
      role: 'admin',
    });
    if (!user.ok) throw new Error(user.error.message);
    const reader: Principal = { user: user.value, via: 'password', scopes: ['admin'] };
    expect((await core.clients.listen(systemPrincipal, 'reader', 'aging')).ok).toBe(false);
    expect((await core.clients.listen(reader, 'reader', 'aging')).ok).toBe(true);

    for (const body of ['a', 'b', 'c']) expect((await post('aging', body)).ok).toBe(true);
    now = new Date(now.getTime() + 45_000);
    expect((await post('aging', 'd')).ok).toBe(true);
    now = new Date(now.getTime() + 30_000);

    expect(await core.sweepRetention()).toBe(3);
    const queue = await core.queues.getByName(systemPrincipal, 'aging');
    expect(queue.ok && { count: queue.value.messageCount, bytes: queue.value.totalBytes }).toEqual({
      count: 1,
      bytes: 1,
    });

    const read = await core.clients.read(reader, 'reader');
    expect(read.ok && read.value.kind).toBe('refresh');
    expect(await core.sweepRetention()).toBe(0);
  });

  it('leaves queues without a retention age alone', async () => {
    await core.queues.create(systemPrincipal, { name: 'forever' });
    expect((await post('forever', 'x')).ok).toBe(true);
    now = new Date(now.getTime() + 365 * 24 * 3600_000);
    await core.sweepRetention();
    const queue = await core.queues.getByName(systemPrincipal, 'forever');
    expect(queue.ok && queue.value.messageCount).toBe(1);
  });
});
