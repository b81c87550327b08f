import { randomBytes } from 'node:crypto';
import { systemPrincipal } from '@switchboard/core';
import { apiTokens, sessions } from '@switchboard/db';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_TIMEOUT_MS,
  type CliTarget,
  createCliTarget,
  expectCleanFailure,
  runCliAt,
  withCliCore,
} from './cli-runner.ts';
import { factories, gql, sessionCookieFrom, startTestServer, type TestServer } from './harness.ts';

const ME = '{ me { username } }';
const LOGIN = `mutation($username: String!, $password: String!) {
  login(username: $username, password: $password) { __typename }
}`;
const CREATE_TOKEN = `mutation($input: CreateTokenInput!) {
  createToken(input: $input) {
    __typename
    ... on CreateTokenSuccess { created { secret token { id expiresAt } } }
  }
}`;
const HOUR_MS = 60 * 60 * 1000;

describe('token and session expiry', () => {
  let server: TestServer;
  let make: ReturnType<typeof factories>;
  beforeAll(async () => {
    server = await startTestServer();
    make = factories(server.core);
  });
  afterAll(async () => {
    await server.close();
  });

  it('a token works until its expiry, and is refused with 401 once the expiry has passed', async () => {
    const member = await make.user();
    const expiresAt = new Date(Date.now() + HOUR_MS).toISOString();
    const created = await gql(server, CREATE_TOKEN, {
      authorization: member.authorization,
      variables: { input: { name: 'expiring', scopes: ['queues:read'], expiresAt } },
    });
    expect(created.body.data?.createToken.__typename).toBe('CreateTokenSuccess');
    const { secret, token } = (created.body.data?.createToken.created ?? {}) as {
      secret: string;
      token: { id: string };
    };
    const authorization = `Bearer ${secret}`;

    // The expiry is what the listing shows.
    const listed = await gql(server, '{ tokens { id expiresAt } }', { authorization: member.authorization });
    expect(listed.body.data?.tokens).toEqual([{ id: token.id, expiresAt }]);

    // Not yet expired: it authenticates, so a refusal below can only be the expiry's doing.
    const live = await gql(server, ME, { authorization });
    expect(live.status).toBe(200);
    expect(live.body.data).toEqual({ me: { username: member.user.username } });

    // Time passing is stood in for by moving the stored expiry into the past; the service is told
    // the token changed so that its few-second look-up cache cannot answer from before the change.
    await server.database.client.db
      .update(apiTokens)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(eq(apiTokens.id, token.id));
    await server.core.tokens.changed(token.id);

    const expired = await gql(server, ME, { authorization });
    expect(expired.status).toBe(401);
    // The same answer as for a token that never existed: expiry reveals nothing more.
    const unknown = await gql(server, ME, { authorization: `Bearer sb_${'A'.repeat(16)}_${'b'.repeat(40)}` });
    expect(expired.body).toEqual(unknown.body);
  });

  it('a token whose stored expiry is already past is refused on its first use', async () => {
    const member = await make.user();
    const token = await member.token(['queues:read']);
    // Set before the token is ever presented, so no cached look-up is involved.
    await server.database.client.db
      .update(apiTokens)
      .set({ expiresAt: new Date(Date.now() - 1_000) })
      .where(eq(apiTokens.id, token.token.id));
    expect((await gql(server, ME, { authorization: token.authorization })).status).toBe(401);
  });

  it('a live session cookie answers { me }; once its session has expired the cookie is ignored (me: null)', async () => {
    const member = await make.user();
    const login = await gql(server, LOGIN, {
      variables: { username: member.user.username, password: member.password },
    });
    expect(login.body.data?.login.__typename).toBe('LoginSuccess');
    const cookie = sessionCookieFrom(login.headers);
    expect(cookie).toBeDefined();

    const live = await gql(server, ME, { cookie });
    expect(live.body.data).toEqual({ me: { username: member.user.username } });

    // Time passing is stood in for by moving the stored expiry of this user's session into the past.
    const moved = await server.database.client.db
      .update(sessions)
      .set({ expiresAt: new Date(Date.now() - 60_000) })
      .where(eq(sessions.userId, member.user.id))
      .returning({ id: sessions.id });
    expect(moved).toHaveLength(1);

    const expired = await gql(server, ME, { cookie });
    expect(expired.status).toBe(200);
    expect(expired.body.errors).toBeUndefined();
    expect(expired.body.data).toEqual({ me: null });
    // Protected fields treat it as anonymous too, not as the user.
    const tokens = await gql(server, '{ tokens { id } }', { cookie });
    expect(tokens.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe(`switchboard CLI edges on ${getTestDatabaseKind()}`, () => {
  const password = `carol-${randomBytes(6).toString('hex')}`;
  let target: CliTarget & { remove(): Promise<void> };
  const runCli = (args: string[], options: { stdin?: string } = {}) => runCliAt(target, args, options);

  beforeAll(async () => {
    target = await createCliTarget('sb-cli-edges-');
    const created = await runCli(['users', 'create', 'carol', '--role', 'member', '--password-stdin'], {
      stdin: `${password}\n`,
    });
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
  }, 2 * CLI_TIMEOUT_MS);

  afterAll(async () => {
    await target?.remove();
  });

  const expectOneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);

  it('users passwd for an unknown user exits 1 with one line naming them', async () => {
    const run = await runCli(['users', 'passwd', 'ghost']);
    expectCleanFailure(run);
    expectOneLine(run.stderr);
    expect(run.stderr).toContain('No user named "ghost"');
    expect(run.stdout).not.toContain('password:');
  });

  it(
    'users passwd --password-stdin with empty input exits 1 naming the password rule, and the old password still works',
    async () => {
      const run = await runCli(['users', 'passwd', 'carol', '--password-stdin'], { stdin: '' });
      expectCleanFailure(run);
      // The message, then one indented line per refused field (the CLI's form for validation errors).
      const [message, ...details] = run.stderr.trimEnd().split('\n');
      expect(message).toBe('switchboard: The new password must be at least 8 characters');
      expect(details).toEqual(['  password: must be at least 8 characters']);
      expect(run.stdout).not.toContain('changed');
      await withCliCore(target, async (core) => {
        expect((await core.auth.verifyCredentials('carol', password)).ok).toBe(true);
      });
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'tokens create --expires-at with a future time stores that expiry, and the token works',
    async () => {
      // Whole seconds, so that the stored instant compares exactly whatever the column's precision.
      const expiresAt = new Date(Math.ceil((Date.now() + 24 * HOUR_MS) / 1000) * 1000);
      const run = await runCli([
        'tokens',
        'create',
        '--user',
        'carol',
        '--name',
        'expiring',
        '--scopes',
        'queues:read',
        '--expires-at',
        expiresAt.toISOString(),
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const secret = run.stdout.trim();
      await withCliCore(target, async (core) => {
        const principal = await core.auth.authenticateToken(secret);
        expect(principal?.user.username).toBe('carol');
        const listed = await core.tokens.list(systemPrincipal, { userId: principal?.user.id });
        if (!listed.ok) throw new Error(listed.error.message);
        const stored = listed.value.find((t) => t.id === principal?.tokenId);
        expect(stored?.expiresAt?.toISOString()).toBe(expiresAt.toISOString());
      });
    },
    2 * CLI_TIMEOUT_MS,
  );

  it.each([
    ['an unreadable time', 'not-a-date', 'must be an ISO 8601 time'],
    ['a time beyond the year 9999', '+010000-01-01T00:00:00.000Z', 'must be between the years 1 and 9999'],
  ])(
    'tokens create --expires-at refuses %s in one line naming --expires-at, and creates nothing',
    async (_label, value, problem) => {
      const name = `bad-${randomBytes(4).toString('hex')}`;
      const run = await runCli([
        'tokens',
        'create',
        '--user',
        'carol',
        '--name',
        name,
        '--scopes',
        'queues:read',
        '--expires-at',
        value,
      ]);
      expectCleanFailure(run);
      expectOneLine(run.stderr);
      expect(run.stderr).toContain(`--expires-at ${problem}`);
      expect(run.stdout).not.toMatch(/sb_/);
      await withCliCore(target, async (core) => {
        const listed = await core.tokens.list(systemPrincipal, { userId: null });
        if (!listed.ok) throw new Error(listed.error.message);
        expect(listed.value.map((t) => t.name)).not.toContain(name);
      });
    },
    2 * CLI_TIMEOUT_MS,
  );
});
