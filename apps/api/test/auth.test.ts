import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, factories, gql, sessionCookieFrom, startTestServer, type TestServer } from './harness.ts';

const ME = '{ me { username role } }';
const CREATE_USER = `mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    __typename
    ... on CreateUserSuccess { user { id username role } }
    ... on Error { message }
  }
}`;
const CREATE_TOKEN = `mutation($input: CreateTokenInput!) {
  createToken(input: $input) {
    __typename
    ... on CreateTokenSuccess { created { secret token { id name scopes } } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const LOGIN = `mutation($username: String!, $password: String!) {
  login(username: $username, password: $password) {
    __typename
    ... on LoginSuccess { session { user { username } expiresAt } }
    ... on RateLimitedError { retryAfterSeconds }
    ... on Error { message }
  }
}`;

describe('authentication and authorization', () => {
  let server: TestServer;
  let make: ReturnType<typeof factories>;
  beforeAll(async () => {
    server = await startTestServer();
    make = factories(server.core);
  });
  afterAll(async () => {
    await server.close();
  });

  describe('HTTP Basic', () => {
    it("answers { me { username } } with the admin's credentials", async () => {
      const res = await gql(server, ME, { authorization: basic(ADMIN.username, ADMIN.password) });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ me: { username: 'admin', role: 'ADMIN' } });
    });

    it('refuses a wrong password with 401 and the same answer as for an unknown user', async () => {
      const wrongPassword = await gql(server, ME, { authorization: basic(ADMIN.username, 'not-the-password') });
      const unknownUser = await gql(server, ME, { authorization: basic('nobody-here', ADMIN.password) });
      expect(wrongPassword.status).toBe(401);
      expect(unknownUser.status).toBe(401);
      expect(wrongPassword.body).toEqual(unknownUser.body);
      expect(wrongPassword.body.errors?.[0]?.message).toBe('Invalid username or password');
      expect(wrongPassword.headers.get('www-authenticate')).toMatch(/^Basic/);
    });

    it('treats a request without credentials as anonymous: me is null, protected fields are refused', async () => {
      const res = await gql(server, ME);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ me: null });
      const tokens = await gql(server, '{ tokens { id } }');
      expect(tokens.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    });

    it('refuses an unknown authorization scheme', async () => {
      const res = await gql(server, ME, { authorization: 'Digest abc' });
      expect(res.status).toBe(401);
    });

    it('stops accepting an old password at once after a change, although checks are cached', async () => {
      const member = await make.user();
      expect((await gql(server, ME, { authorization: member.authorization })).status).toBe(200);
      const changed = await gql(
        server,
        `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { __typename } }`,
        { authorization: member.authorization, variables: { c: member.password, n: 'a-brand-new-password' } },
      );
      expect(changed.body.data?.changePassword.__typename).toBe('ChangePasswordSuccess');
      expect((await gql(server, ME, { authorization: member.authorization })).status).toBe(401);
      const fresh = await gql(server, ME, { authorization: basic(member.user.username, 'a-brand-new-password') });
      expect(fresh.body.data?.me.username).toBe(member.user.username);
    });

    it('slows down repeated failed logins: locked out with 429 and Retry-After, even for the right password', async () => {
      const member = await make.user();
      const wrong = basic(member.user.username, 'wrong-password');
      for (let i = 0; i < 5; i++) expect((await gql(server, ME, { authorization: wrong })).status).toBe(401);
      const locked = await gql(server, ME, { authorization: member.authorization });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const login = await gql(server, LOGIN, {
        variables: { username: member.user.username, password: member.password },
      });
      expect(login.body.data?.login.__typename).toBe('RateLimitedError');
      // Another user from the same address is not affected.
      const other = await make.user();
      expect((await gql(server, ME, { authorization: other.authorization })).status).toBe(200);
    });
  });

  describe('API tokens', () => {
    it('authenticates with a Bearer token and records its last use', async () => {
      const member = await make.user();
      const token = await member.token(['events:publish']);
      const res = await gql(server, ME, { authorization: token.authorization });
      expect(res.body.data?.me.username).toBe(member.user.username);
      const listed = await gql(server, '{ tokens { id lastUsedAt } }', { authorization: member.authorization });
      expect(listed.body.data?.tokens[0].lastUsedAt).toEqual(expect.any(String));
    });

    it('refuses malformed and unknown tokens with 401', async () => {
      for (const value of ['nonsense', `sb_${'A'.repeat(16)}_${'b'.repeat(40)}`, '']) {
        expect((await gql(server, ME, { authorization: `Bearer ${value}` })).status).toBe(401);
      }
    });

    it('refuses a token that was revoked, on the very next request', async () => {
      const member = await make.user();
      const token = await member.token(['queues:read']);
      expect((await gql(server, ME, { authorization: token.authorization })).status).toBe(200);
      const revoked = await gql(
        server,
        'mutation($id: ID!) { revokeToken(id: $id) { __typename ... on RevokeTokenSuccess { token { revokedAt } } } }',
        { authorization: member.authorization, variables: { id: token.token.id } },
      );
      expect(revoked.body.data?.revokeToken.__typename).toBe('RevokeTokenSuccess');
      expect((await gql(server, ME, { authorization: token.authorization })).status).toBe(401);
    });

    it('revoking needs the tokens:write scope', async () => {
      const member = await make.user();
      const reader = await member.token(['queues:read']);
      const victim = await member.token(['events:publish']);
      const res = await gql(server, 'mutation($id: ID!) { revokeToken(id: $id) { __typename } }', {
        authorization: reader.authorization,
        variables: { id: victim.token.id },
      });
      expect(res.body.data?.revokeToken.__typename).toBe('ForbiddenError');
      expect((await gql(server, ME, { authorization: victim.authorization })).status).toBe(200);
    });

    it('shows the secret once: listings carry ids and names only', async () => {
      const member = await make.user();
      const created = await gql(server, CREATE_TOKEN, {
        authorization: member.authorization,
        variables: { input: { name: 'deploy', scopes: ['events:publish'] } },
      });
      const secret = created.body.data?.createToken.created.secret as string;
      expect(secret).toMatch(/^sb_[0-9A-Za-z]{16}_[0-9A-Za-z]{40}$/);
      const listed = await gql(server, '{ tokens { id name scopes } }', { authorization: member.authorization });
      expect(JSON.stringify(listed.body)).not.toContain(secret.slice(20));
      expect(listed.body.data?.tokens).toEqual([
        { id: secret.slice(3, 19), name: 'deploy', scopes: ['events:publish'] },
      ]);
    });

    it('a token without the admin scope cannot create users, even when its owner is an admin', async () => {
      const admin = await make.user({ role: 'admin' });
      const narrow = await admin.token(['tokens:write', 'queues:read']);
      const res = await gql(server, CREATE_USER, {
        authorization: narrow.authorization,
        variables: { input: { username: 'should-not-exist', password: 'long-enough-password' } },
      });
      expect(res.body.data?.createUser.__typename).toBe('ForbiddenError');
      expect(await server.core.users.findByUsername('should-not-exist')).toBeNull();
      const full = await admin.token(['admin']);
      const allowed = await gql(server, CREATE_USER, {
        authorization: full.authorization,
        variables: { input: { username: 'made-by-token', password: 'long-enough-password' } },
      });
      expect(allowed.body.data?.createUser.__typename).toBe('CreateUserSuccess');
    });

    it('a member cannot give a token the admin scope, nor a token more than its creator holds', async () => {
      const member = await make.user();
      const asAdmin = await gql(server, CREATE_TOKEN, {
        authorization: member.authorization,
        variables: { input: { name: 'sneaky', scopes: ['admin'] } },
      });
      expect(asAdmin.body.data?.createToken.__typename).toBe('ValidationError');
      expect(asAdmin.body.data?.createToken.fields[0].path).toBe('scopes');
      const minter = await member.token(['tokens:write']);
      const wider = await gql(server, CREATE_TOKEN, {
        authorization: minter.authorization,
        variables: { input: { name: 'wider', scopes: ['jobs:write'] } },
      });
      expect(wider.body.data?.createToken.__typename).toBe('ValidationError');
      const same = await gql(server, CREATE_TOKEN, {
        authorization: minter.authorization,
        variables: { input: { name: 'same', scopes: ['tokens:write'] } },
      });
      expect(same.body.data?.createToken.__typename).toBe('CreateTokenSuccess');
    });

    it("a member cannot see or revoke other users' tokens; an admin can see them", async () => {
      const alice = await make.user();
      const bob = await make.user();
      const bobsToken = await bob.token(['queues:read']);

      const own = await gql(server, '{ tokens { id } }', { authorization: alice.authorization });
      expect(own.body.data?.tokens).toEqual([]);
      for (const query of [`{ tokens(userId: "${bob.user.id}") { id } }`, '{ tokens(allUsers: true) { id } }']) {
        const res = await gql(server, query, { authorization: alice.authorization });
        expect(res.body.data).toBeNull();
        expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      }
      const revoke = await gql(server, 'mutation($id: ID!) { revokeToken(id: $id) { __typename } }', {
        authorization: alice.authorization,
        variables: { id: bobsToken.token.id },
      });
      expect(revoke.body.data?.revokeToken.__typename).toBe('NotFoundError');
      expect((await gql(server, ME, { authorization: bobsToken.authorization })).status).toBe(200);

      const asAdmin = await gql(server, `{ tokens(userId: "${bob.user.id}") { id user { username } } }`, {
        authorization: basic(ADMIN.username, ADMIN.password),
      });
      expect(asAdmin.body.data?.tokens).toEqual([{ id: bobsToken.token.id, user: { username: bob.user.username } }]);
    });

    it('a token name is unique among live tokens and free again once revoked', async () => {
      const member = await make.user();
      const first = await member.token(['queues:read'], 'ci');
      const again = await gql(server, CREATE_TOKEN, {
        authorization: member.authorization,
        variables: { input: { name: 'ci', scopes: ['queues:read'] } },
      });
      expect(again.body.data?.createToken.__typename).toBe('ConflictError');
      await server.core.tokens.revoke({ user: member.user, via: 'password', scopes: ['tokens:write'] }, first.token.id);
      const reused = await gql(server, CREATE_TOKEN, {
        authorization: member.authorization,
        variables: { input: { name: 'ci', scopes: ['queues:read'] } },
      });
      expect(reused.body.data?.createToken.__typename).toBe('CreateTokenSuccess');
    });
  });

  describe('console sessions', () => {
    async function login(username: string, password: string) {
      const res = await gql(server, LOGIN, { variables: { username, password } });
      return { res, cookie: sessionCookieFrom(res.headers) };
    }

    it('login sets an httpOnly, SameSite=Strict cookie that authenticates later requests', async () => {
      const member = await make.user();
      const { res, cookie } = await login(member.user.username, member.password);
      expect(res.body.data?.login.__typename).toBe('LoginSuccess');
      const header = res.headers.getSetCookie().find((c) => c.startsWith('sb_session='));
      expect(header).toMatch(/HttpOnly/i);
      expect(header).toMatch(/SameSite=Strict/i);
      const me = await gql(server, ME, { cookie });
      expect(me.body.data?.me.username).toBe(member.user.username);
    });

    it('a wrong password at login is a typed InvalidCredentialsError and sets no cookie', async () => {
      const member = await make.user();
      const { res, cookie } = await login(member.user.username, 'nope-nope-nope');
      expect(res.body.data?.login).toEqual({
        __typename: 'InvalidCredentialsError',
        message: 'Invalid username or password',
      });
      expect(cookie).toBeUndefined();
    });

    it('logout ends the session: the cookie that answered { me } before answers me: null after', async () => {
      const member = await make.user();
      const { cookie } = await login(member.user.username, member.password);
      // Without this, a cookie that never worked would pass the check below as well.
      expect((await gql(server, ME, { cookie })).body.data?.me.username).toBe(member.user.username);
      const out = await gql(server, 'mutation { logout }', { cookie });
      expect(out.body.data).toEqual({ logout: true });
      expect((await gql(server, ME, { cookie })).body.data).toEqual({ me: null });
    });

    it('a password change ends every old session; the session that changed it gets a new cookie', async () => {
      const member = await make.user();
      const elsewhere = await login(member.user.username, member.password);
      const here = await login(member.user.username, member.password);
      const change = await gql(
        server,
        'mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { __typename } }',
        { cookie: here.cookie, variables: { c: member.password, n: 'changed-password-123' } },
      );
      expect(change.body.data?.changePassword.__typename).toBe('ChangePasswordSuccess');
      const renewed = sessionCookieFrom(change.headers);
      expect(renewed).toBeDefined();
      expect(renewed).not.toBe(here.cookie);
      expect((await gql(server, ME, { cookie: elsewhere.cookie })).body.data).toEqual({ me: null });
      expect((await gql(server, ME, { cookie: here.cookie })).body.data).toEqual({ me: null });
      expect((await gql(server, ME, { cookie: renewed })).body.data?.me.username).toBe(member.user.username);
    });

    it("an admin setting a password ends that user's sessions: a working cookie answers me: null after", async () => {
      const member = await make.user();
      const { cookie } = await login(member.user.username, member.password);
      // Without this, a cookie that never worked would pass the check below as well.
      expect((await gql(server, ME, { cookie })).body.data?.me.username).toBe(member.user.username);
      const res = await gql(
        server,
        'mutation($id: ID!, $p: String!) { setUserPassword(id: $id, password: $p) { __typename } }',
        {
          authorization: basic(ADMIN.username, ADMIN.password),
          variables: { id: member.user.id, p: 'set-by-admin-1' },
        },
      );
      expect(res.body.data?.setUserPassword.__typename).toBe('SetUserPasswordSuccess');
      expect((await gql(server, ME, { cookie })).body.data).toEqual({ me: null });
      // The user can sign in again with the password the admin set.
      const again = await login(member.user.username, 'set-by-admin-1');
      expect((await gql(server, ME, { cookie: again.cookie })).body.data?.me.username).toBe(member.user.username);
    });

    it('changing a password needs the current one', async () => {
      const member = await make.user();
      const res = await gql(
        server,
        'mutation { changePassword(currentPassword: "guess-guess", newPassword: "whatever-123") { __typename ... on ValidationError { fields { path } } } }',
        { authorization: member.authorization },
      );
      expect(res.body.data?.changePassword).toEqual({
        __typename: 'ValidationError',
        fields: [{ path: 'currentPassword' }],
      });
      expect((await gql(server, ME, { authorization: member.authorization })).status).toBe(200);
    });

    it('an unknown or forged session cookie is ignored, not an error', async () => {
      const res = await gql(server, ME, { cookie: 'sb_session=forged-value' });
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ me: null });
    });
  });
});
