import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, factories, gql, sessionCookieFrom, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const CREATE_USER = `mutation($input: CreateUserInput!) {
  createUser(input: $input) {
    __typename
    ... on CreateUserSuccess { user { id username role } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const UPDATE_ROLE = `mutation($id: ID!, $role: UserRole!) {
  updateUserRole(id: $id, role: $role) { __typename ... on UpdateUserRoleSuccess { user { role } } ... on Error { message } }
}`;
const LOGIN = `mutation($username: String!, $password: String!) {
  login(username: $username, password: $password) { __typename }
}`;
const DELETE_USER = `mutation($id: ID!) {
  deleteUser(id: $id) { __typename ... on DeleteUserSuccess { user { username } } ... on Error { message } }
}`;

describe('users', () => {
  let server: TestServer;
  let make: ReturnType<typeof factories>;
  beforeAll(async () => {
    server = await startTestServer();
    make = factories(server.core);
  });
  afterAll(async () => {
    await server.close();
  });

  async function countUsers(): Promise<number> {
    const res = await gql(server, '{ users { totalCount } }', { authorization: admin });
    return res.body.data?.users.totalCount;
  }

  it('an admin creates a member who can then sign in', async () => {
    const res = await gql(server, CREATE_USER, {
      authorization: admin,
      variables: { input: { username: 'carol', password: 'carol-password' } },
    });
    expect(res.body.data?.createUser).toMatchObject({
      __typename: 'CreateUserSuccess',
      user: { username: 'carol', role: 'MEMBER' },
    });
    const me = await gql(server, '{ me { username role } }', { authorization: basic('carol', 'carol-password') });
    expect(me.body.data?.me).toEqual({ username: 'carol', role: 'MEMBER' });
  });

  it('usernames are unique regardless of case; the duplicate changes nothing', async () => {
    await make.user().then(async (u) => {
      const before = await countUsers();
      const res = await gql(server, CREATE_USER, {
        authorization: admin,
        variables: { input: { username: u.user.username.toUpperCase(), password: 'another-password' } },
      });
      expect(res.body.data?.createUser.__typename).toBe('ConflictError');
      expect(await countUsers()).toBe(before);
      // The original password still works: nothing was overwritten.
      expect((await gql(server, '{ me { id } }', { authorization: u.authorization })).status).toBe(200);
    });
  });

  it('refuses a bad username and a short password, naming each field, and stores nothing', async () => {
    const before = await countUsers();
    const res = await gql(server, CREATE_USER, {
      authorization: admin,
      variables: { input: { username: ' has:colon ', password: 'short' } },
    });
    expect(res.body.data?.createUser.__typename).toBe('ValidationError');
    expect(res.body.data?.createUser.fields.map((f: { path: string }) => f.path)).toEqual(['username', 'password']);
    expect(await countUsers()).toBe(before);
  });

  it('a member cannot create, promote, delete or list users', async () => {
    const member = await make.user();
    const other = await make.user();
    const created = await gql(server, CREATE_USER, {
      authorization: member.authorization,
      variables: { input: { username: 'nope-user', password: 'nope-password' } },
    });
    expect(created.body.data?.createUser.__typename).toBe('ForbiddenError');
    const promoted = await gql(server, UPDATE_ROLE, {
      authorization: member.authorization,
      variables: { id: member.user.id, role: 'ADMIN' },
    });
    expect(promoted.body.data?.updateUserRole.__typename).toBe('ForbiddenError');
    const deleted = await gql(server, DELETE_USER, {
      authorization: member.authorization,
      variables: { id: other.user.id },
    });
    expect(deleted.body.data?.deleteUser.__typename).toBe('ForbiddenError');
    const listed = await gql(server, '{ users { totalCount } }', { authorization: member.authorization });
    expect(listed.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const peek = await gql(server, `{ user(id: "${other.user.id}") { username } }`, {
      authorization: member.authorization,
    });
    expect(peek.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const self = await gql(server, `{ user(id: "${member.user.id}") { username } }`, {
      authorization: member.authorization,
    });
    expect(self.body.data?.user.username).toBe(member.user.username);
  });

  it('an admin changes roles; a promoted member gains admin rights at once', async () => {
    const member = await make.user();
    const promoted = await gql(server, UPDATE_ROLE, {
      authorization: admin,
      variables: { id: member.user.id, role: 'ADMIN' },
    });
    expect(promoted.body.data?.updateUserRole).toEqual({
      __typename: 'UpdateUserRoleSuccess',
      user: { role: 'ADMIN' },
    });
    const list = await gql(server, '{ users { totalCount } }', { authorization: member.authorization });
    expect(list.body.data?.users.totalCount).toBeGreaterThan(1);
  });

  it("a demoted admin's admin token loses the admin scope", async () => {
    const second = await make.user({ role: 'admin' });
    const token = await second.token(['admin']);
    // The token does list users while its owner is an admin, so the refusal below is the demotion's doing.
    const before = await gql(server, '{ users { totalCount } }', { authorization: token.authorization });
    expect(before.body.errors).toBeUndefined();
    expect(before.body.data?.users.totalCount).toBeGreaterThan(1);
    const demoted = await gql(server, UPDATE_ROLE, {
      authorization: admin,
      variables: { id: second.user.id, role: 'MEMBER' },
    });
    expect(demoted.body.data?.updateUserRole).toEqual({
      __typename: 'UpdateUserRoleSuccess',
      user: { role: 'MEMBER' },
    });
    const res = await gql(server, '{ users { totalCount } }', { authorization: token.authorization });
    expect(res.body.data).toBeNull();
    expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('the last admin can be neither demoted nor deleted; nobody deletes themselves', async () => {
    const onlyAdmin = await server.core.users.findByUsername(ADMIN.username);
    // Demote every other admin first so that ADMIN is the last one.
    const all = await gql(server, '{ users(first: 100) { edges { node { id role } } } }', { authorization: admin });
    for (const { node } of all.body.data?.users.edges ?? []) {
      if (node.role === 'ADMIN' && node.id !== onlyAdmin?.id) {
        await gql(server, UPDATE_ROLE, { authorization: admin, variables: { id: node.id, role: 'MEMBER' } });
      }
    }
    const demote = await gql(server, UPDATE_ROLE, {
      authorization: admin,
      variables: { id: onlyAdmin?.id, role: 'MEMBER' },
    });
    expect(demote.body.data?.updateUserRole.__typename).toBe('ConflictError');
    const remove = await gql(server, DELETE_USER, { authorization: admin, variables: { id: onlyAdmin?.id } });
    expect(remove.body.data?.deleteUser.__typename).toBe('ConflictError');
    expect((await gql(server, '{ me { role } }', { authorization: admin })).body.data?.me.role).toBe('ADMIN');
  });

  it('deleting a user ends their tokens and sessions', async () => {
    const member = await make.user();
    const token = await member.token(['queues:read']);
    const login = await gql(server, LOGIN, {
      variables: { username: member.user.username, password: member.password },
    });
    expect(login.body.data?.login.__typename).toBe('LoginSuccess');
    const cookie = sessionCookieFrom(login.headers);
    expect(cookie).toBeDefined();
    // Both work before the deletion, so their refusal after it is the deletion's doing.
    const ME = '{ me { username } }';
    expect((await gql(server, ME, { authorization: token.authorization })).body.data?.me.username).toBe(
      member.user.username,
    );
    expect((await gql(server, ME, { cookie })).body.data?.me.username).toBe(member.user.username);
    const res = await gql(server, DELETE_USER, { authorization: admin, variables: { id: member.user.id } });
    expect(res.body.data?.deleteUser).toEqual({
      __typename: 'DeleteUserSuccess',
      user: { username: member.user.username },
    });
    expect((await gql(server, ME, { authorization: token.authorization })).status).toBe(401);
    // A session cookie that names no live session is ignored: the caller is anonymous.
    expect((await gql(server, ME, { cookie })).body.data).toEqual({ me: null });
    const again = await gql(server, DELETE_USER, { authorization: admin, variables: { id: member.user.id } });
    expect(again.body.data?.deleteUser.__typename).toBe('NotFoundError');
  });

  it('pages through users with a connection', async () => {
    for (let i = 0; i < 3; i++) await make.user();
    const first = await gql(
      server,
      '{ users(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { username } } } }',
      {
        authorization: admin,
      },
    );
    const page = first.body.data?.users;
    expect(page.edges).toHaveLength(2);
    expect(page.pageInfo.hasNextPage).toBe(true);
    const next = await gql(
      server,
      'query($after: String) { users(first: 2, after: $after) { edges { node { username } } } }',
      {
        authorization: admin,
        variables: { after: page.pageInfo.endCursor },
      },
    );
    const names = [...page.edges, ...(next.body.data?.users.edges ?? [])].map(
      (e: { node: { username: string } }) => e.node.username,
    );
    expect(new Set(names).size).toBe(4);
    expect([...names].sort()).toEqual(names);
  });

  it('an unknown or malformed user id is a clear NOT_FOUND, not a crash', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000001', 'not-a-uuid']) {
      const res = await gql(server, `{ user(id: "${id}") { id } }`, { authorization: admin });
      expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });
});
