import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);

const CREATE = `mutation($input: QueueInput!) {
  createQueue(input: $input) {
    __typename
    ... on CreateQueueSuccess { queue { id name ingestPath verification { method header algorithm encoding prefix } allowedNetworks maxMessageCount dedup { header bodyHash } } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const hmacVerification = {
  method: 'HMAC',
  secret: 'top-secret-value',
  algorithm: 'sha256',
  encoding: 'hex',
  header: 'X-Signature',
  prefix: 'sha256=',
};

describe('queues and clients over GraphQL', () => {
  let server: TestServer;
  let make: ReturnType<typeof factories>;
  beforeAll(async () => {
    server = await startTestServer();
    make = factories(server.core);
  });
  afterAll(async () => {
    await server.close();
  });

  const post = (queue: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/q/${queue}`, { method: 'POST', body, headers });

  async function createQueue(input: Record<string, unknown>, authorization = admin) {
    return (await gql(server, CREATE, { authorization, variables: { input } })).body.data?.createQueue;
  }

  it('an admin creates a verified queue; its secret is never shown; signed posts are stored', async () => {
    const created = await createQueue({ name: 'gh', verification: hmacVerification, dedup: { header: 'X-Delivery' } });
    expect(created).toMatchObject({
      __typename: 'CreateQueueSuccess',
      queue: {
        name: 'gh',
        ingestPath: '/q/gh',
        verification: {
          method: 'HMAC',
          header: 'x-signature',
          algorithm: 'sha256',
          encoding: 'hex',
          prefix: 'sha256=',
        },
        dedup: { header: 'x-delivery', bodyHash: false },
      },
    });
    const listed = await gql(server, '{ queues { name verification { method } } queue(name: "gh") { name } }', {
      authorization: admin,
    });
    expect(JSON.stringify(listed.body)).not.toContain('top-secret-value');

    const body = '{"hello":"world"}';
    const signature = `sha256=${createHmac('sha256', 'top-secret-value').update(body).digest('hex')}`;
    expect((await post('gh', body, { 'x-signature': signature, 'x-delivery': 'd1' })).status).toBe(200);
    expect((await post('gh', body, { 'x-signature': 'sha256=00' })).status).toBe(401);

    const browse = await gql(
      server,
      '{ queue(name: "gh") { lastSeq messageCount messages(first: 10) { edges { cursor node { seq body bodyBase64 contentType headers { name value } sourceIp } } } } }',
      {
        authorization: admin,
      },
    );
    const queue = browse.body.data?.queue;
    expect(queue.lastSeq).toBe(1);
    expect(queue.messageCount).toBe(1);
    expect(queue.messages.edges[0]).toMatchObject({ cursor: '1', node: { seq: 1, body, sourceIp: '127.0.0.1' } });
    expect(Buffer.from(queue.messages.edges[0].node.bodyBase64, 'base64').toString()).toBe(body);
  });

  it('refuses invalid definitions with field problems, and a second queue of the same name', async () => {
    const bad = await createQueue({
      name: 'bad name!',
      allowedNetworks: ['not-a-network'],
      verification: { method: 'HMAC' },
    });
    expect(bad.__typename).toBe('ValidationError');
    const paths = bad.fields.map((f: { path: string }) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'allowedNetworks.0']));
    expect((await createQueue({ name: 'gh' })).__typename).toBe('ConflictError');
  });

  it('a member cannot create, change or delete queues, and sees only the queues they may listen to', async () => {
    const member = await make.user();
    expect((await createQueue({ name: 'members-queue' }, member.authorization)).__typename).toBe('ForbiddenError');
    const seen = await gql(server, '{ queues { name } }', { authorization: member.authorization });
    expect(seen.body.data?.queues).toEqual([]);
    const peek = await gql(server, '{ queue(name: "gh") { name } }', { authorization: member.authorization });
    expect(peek.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const GH = '{ queue(name: "gh") { id maxMessageCount verification { method } } }';
    const before = (await gql(server, GH, { authorization: admin })).body.data?.queue;
    expect(before).toMatchObject({ maxMessageCount: null, verification: { method: 'HMAC' } });
    const id = before.id;
    const changed = await gql(
      server,
      'mutation($id: ID!) { updateQueue(id: $id, input: { name: "gh", maxMessageCount: 1 }) { __typename } }',
      { authorization: member.authorization, variables: { id } },
    );
    expect(changed.body.data?.updateQueue.__typename).toBe('ForbiddenError');
    const removed = await gql(server, 'mutation($id: ID!) { deleteQueue(id: $id) { __typename } }', {
      authorization: member.authorization,
      variables: { id },
    });
    expect(removed.body.data?.deleteQueue.__typename).toBe('ForbiddenError');
    // Neither refused call touched the queue: it is still there, unchanged, verification and all.
    expect((await gql(server, GH, { authorization: admin })).body.data?.queue).toEqual(before);
  });

  it('listeners: a listed member listens, reads through readClient, and browses the backlog', async () => {
    const member = await make.user();
    const queue = await createQueue({ name: 'shared' });
    const set = await gql(
      server,
      'mutation($id: ID!, $users: [ID!]!) { setQueueListeners(id: $id, userIds: $users) { __typename } }',
      {
        authorization: admin,
        variables: { id: queue.queue.id, users: [member.user.id] },
      },
    );
    expect(set.body.data?.setQueueListeners.__typename).toBe('SetQueueListenersSuccess');

    const listen = await gql(
      server,
      'mutation { listen(client: "phone", queue: "shared") { __typename ... on ListenSuccess { client { name state cursor } } } }',
      {
        authorization: member.authorization,
      },
    );
    expect(listen.body.data?.listen).toEqual({
      __typename: 'ListenSuccess',
      client: { name: 'phone', state: 'CONNECTED', cursor: 0 },
    });
    for (const n of [1, 2, 3]) expect((await post('shared', `m${n}`)).status).toBe(200);

    const backlog = await gql(
      server,
      '{ client(name: "phone") { cursor backlog(first: 2) { pageInfo { hasNextPage } edges { node { body } } } } }',
      {
        authorization: member.authorization,
      },
    );
    expect(backlog.body.data?.client).toEqual({
      cursor: 0,
      backlog: { pageInfo: { hasNextPage: true }, edges: [{ node: { body: 'm1' } }, { node: { body: 'm2' } }] },
    });
    const READ =
      'mutation { readClient(client: "phone", limit: 2) { __typename ... on ReadClientSuccess { outcome { __typename ... on ReadMessages { currentSeq messages { seq body } } } } } }';
    const first = await gql(server, READ, { authorization: member.authorization });
    expect(first.body.data?.readClient.outcome).toEqual({
      __typename: 'ReadMessages',
      currentSeq: 3,
      messages: [
        { seq: 1, body: 'm1' },
        { seq: 2, body: 'm2' },
      ],
    });
    const second = await gql(server, READ, { authorization: member.authorization });
    expect(second.body.data?.readClient.outcome.messages).toEqual([{ seq: 3, body: 'm3' }]);

    // Another member cannot read this member's client: clients are per user.
    const other = await make.user();
    const foreign = await gql(server, READ, { authorization: other.authorization });
    expect(foreign.body.data?.readClient.__typename).toBe('NotFoundError');
    const notListed = await gql(server, 'mutation { listen(client: "x", queue: "shared") { __typename } }', {
      authorization: other.authorization,
    });
    expect(notListed.body.data?.listen.__typename).toBe('ForbiddenError');

    // Taking the member off the list disconnects their client.
    await gql(server, 'mutation($id: ID!) { setQueueListeners(id: $id, userIds: []) { __typename } }', {
      authorization: admin,
      variables: { id: queue.queue.id },
    });
    const after = await gql(server, '{ clients { name state } }', { authorization: member.authorization });
    expect(after.body.data?.clients).toEqual([{ name: 'phone', state: 'DISCONNECTED' }]);
  });

  it('updateQueue keeps the verification when it is left out, and deleteQueue disconnects clients', async () => {
    const created = await createQueue({ name: 'editable', verification: { method: 'TOKEN', token: 'tok-123456' } });
    const id = created.queue.id;
    await gql(server, 'mutation { listen(client: "ed", queue: "editable") { __typename } }', { authorization: admin });
    const updated = await gql(
      server,
      'mutation($id: ID!) { updateQueue(id: $id, input: { name: "editable", maxMessageCount: 5 }) { __typename ... on UpdateQueueSuccess { queue { maxMessageCount verification { method } } } } }',
      { authorization: admin, variables: { id } },
    );
    expect(updated.body.data?.updateQueue.queue).toEqual({ maxMessageCount: 5, verification: { method: 'TOKEN' } });
    expect((await post('editable', 'x', { 'x-webhook-token': 'tok-123456' })).status).toBe(200);
    expect((await post('editable', 'x')).status).toBe(401);

    const deleted = await gql(server, 'mutation($id: ID!) { deleteQueue(id: $id) { __typename } }', {
      authorization: admin,
      variables: { id },
    });
    expect(deleted.body.data?.deleteQueue.__typename).toBe('DeleteQueueSuccess');
    expect((await post('editable', 'x', { 'x-webhook-token': 'tok-123456' })).status).toBe(404);
    const clients = await gql(server, '{ client(name: "ed") { state queueName } }', { authorization: admin });
    expect(clients.body.data?.client).toEqual({ state: 'DISCONNECTED', queueName: 'editable' });
  });

  it('refuses a malformed message cursor as a client error', async () => {
    const res = await gql(server, '{ queue(name: "gh") { messages(first: 1, after: "abc") { edges { cursor } } } }', {
      authorization: admin,
    });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
