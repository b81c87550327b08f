import { users } from '@switchboard/db';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore } from '../src/index.ts';
import { must } from '../src/testing.ts';

/** Which ways of setting a password end the user's sessions, and which keep them. */
describe('passwords and sessions', () => {
  let database: TestDatabase;
  let core: Core;

  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({ db: database.client.db });
  });
  afterAll(async () => {
    await database.drop();
  });

  const applyUsers = async (list: Array<{ name: string; pass_hash: string }>) =>
    must(await core.config.apply(JSON.stringify({ users: list })));

  async function stored(username: string) {
    const user = await core.users.findByUsername(username);
    if (!user) throw new Error(`no user ${username}`);
    const [row] = await database.client.db
      .select({ passwordHash: users.passwordHash, passwordChangedAt: users.passwordChangedAt })
      .from(users)
      .where(eq(users.id, user.id));
    if (!row) throw new Error(`no row for ${username}`);
    return { id: user.id, ...row };
  }

  it('a config file that gives a user a new pass_hash ends their sessions; the same file again, in any case, does not', async () => {
    expect((await applyUsers([{ name: 'Carol', pass_hash: 'plain;;first-password' }])).users.created).toEqual([
      'Carol',
    ]);
    const session = must(await core.auth.login('carol', 'first-password'));

    const again = await applyUsers([{ name: 'CAROL', pass_hash: 'plain;;first-password' }]);
    expect(again.users).toEqual({ created: [], updated: ['CAROL'], removed: [] });
    expect(await core.auth.authenticateSession(session.sessionToken)).not.toBeNull();

    await applyUsers([{ name: 'Carol', pass_hash: 'plain;;second-password' }]);
    expect(await core.auth.authenticateSession(session.sessionToken)).toBeNull();
    expect((await core.auth.verifyCredentials('Carol', 'first-password')).ok).toBe(false);
    expect((await core.auth.verifyCredentials('Carol', 'second-password')).ok).toBe(true);
  });

  it('signing in with a legacy hash stores a stronger one of the same password and keeps the sessions', async () => {
    await applyUsers([{ name: 'Dave', pass_hash: 'plain;;legacy-password' }]);
    const before = await stored('dave');
    const session = await core.auth.startSession(before.id);

    expect((await core.auth.verifyCredentials('DAVE', 'legacy-password')).ok).toBe(true);

    const after = await stored('dave');
    expect(before.passwordHash).toBe('plain;;legacy-password');
    expect(after.passwordHash.startsWith('$argon2id$')).toBe(true);
    expect(after.passwordChangedAt).toEqual(before.passwordChangedAt);
    expect(await core.auth.authenticateSession(session.sessionToken)).not.toBeNull();
  });
});
