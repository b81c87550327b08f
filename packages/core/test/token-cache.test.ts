import { createDatabaseClient, type DatabaseClient } from '@switchboard/db';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, type Core, createCore, scopesForRole, systemPrincipal } from '../src/index.ts';
import { within } from './within.ts';

/**
 * Token look-ups are cached for a few seconds; whatever ends a token's validity must still take
 * effect at once in the process that made the change, and in another process as soon as the
 * change's notification reaches it (not when its cache entry would have run out).
 */
describe('token look-ups across processes', () => {
  let database: TestDatabase;
  let other: DatabaseClient;
  let a: Core;
  let b: Core;

  beforeAll(async () => {
    database = await createTestDatabase();
    // On Postgres the second "process" has connections of its own; PGlite is one process's alone.
    other = database.url ? await createDatabaseClient({ url: database.url, maxConnections: 2 }) : database.client;
    a = createCore({ db: database.client.db, pubsub: database.client });
    b = createCore({ db: other.db, pubsub: other });
    await a.start({ worker: false, housekeeping: false });
    await b.start({ worker: false, housekeeping: false });
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    if (other !== database.client) await other.close();
    await database.drop();
  });

  async function tokenFor(role: 'admin' | 'member', scopes: string[]) {
    const created = await a.users.create(systemPrincipal, {
      username: `u-${Math.random().toString(36).slice(2, 8)}`,
      password: 'a-long-password',
      role,
    });
    if (!created.ok) throw new Error(created.error.message);
    const token = await a.tokens.create(systemPrincipal, { userId: created.value.id, name: 't', scopes });
    if (!token.ok) throw new Error(token.error.message);
    return { user: created.value, id: token.value.token.id, secret: token.value.secret };
  }

  /**
   * Runs `change` in process a and waits (generously) for its token notification to reach process
   * b; b's cache has dropped the entry by then, since its own listener was registered first. A
   * cache entry lives 5 s, so a check made at once proves the notification did it.
   */
  async function heardByOther(change: () => Promise<void>): Promise<void> {
    let heard = () => {};
    const arrived = new Promise<void>((resolve) => {
      heard = resolve;
    });
    const unlisten = await other.listen(CHANNELS.tokens, () => heard());
    try {
      await change();
      await within(20_000, 'the token notification to reach the other process', arrived);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      await unlisten();
    }
  }

  it('a token revoked in one process is refused there at once, and in another within moments', async () => {
    const { id, secret } = await tokenFor('member', ['events:publish']);
    expect(await a.auth.authenticateToken(secret)).not.toBeNull();
    expect(await b.auth.authenticateToken(secret)).not.toBeNull(); // now cached in b
    await heardByOther(async () => {
      const revoked = await a.tokens.revoke(systemPrincipal, id);
      expect(revoked.ok).toBe(true);
      expect(await a.auth.authenticateToken(secret)).toBeNull();
    });
    expect(await b.auth.authenticateToken(secret)).toBeNull();
  });

  it("a demoted admin's token loses the admin scope on the next request, here and elsewhere", async () => {
    await tokenFor('admin', ['events:publish']); // the last admin may not be demoted
    const { user, secret } = await tokenFor('admin', ['admin', 'events:publish']);
    expect((await a.auth.authenticateToken(secret))?.scopes).toContain('admin');
    expect((await b.auth.authenticateToken(secret))?.scopes).toContain('admin');
    await heardByOther(async () => {
      const demoted = await a.users.updateRole(
        {
          user: { ...systemPrincipal.user, username: 'root' },
          via: 'system',
          scopes: scopesForRole('admin'),
        },
        user.id,
        'member',
      );
      expect(demoted.ok).toBe(true);
      expect((await a.auth.authenticateToken(secret))?.scopes).toEqual(['events:publish']);
    });
    expect((await b.auth.authenticateToken(secret))?.scopes).toEqual(['events:publish']);
  });

  it("a deleted user's tokens stop working", async () => {
    const { user, secret } = await tokenFor('member', ['events:publish']);
    expect(await b.auth.authenticateToken(secret)).not.toBeNull();
    await heardByOther(async () => {
      const deleted = await a.users.delete(systemPrincipal, user.id);
      expect(deleted.ok).toBe(true);
      expect(await a.auth.authenticateToken(secret)).toBeNull();
    });
    expect(await b.auth.authenticateToken(secret)).toBeNull();
  });
});
