import { systemPrincipal } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledRun } from './action-fixtures.ts';
import { eventually, expectSubscriptionRefused } from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * Managing queues' rules and actions over GraphQL: what an admin may define and what is refused
 * (with the field to change), what members may not see or do, the refused requests a queue keeps,
 * and the `metrics` action's series on /metrics.
 */

const admin = basic(ADMIN.username, ADMIN.password);

const RESULT = `__typename
    ... on Error { message }
    ... on ValidationError { fields { path message } }`;
const CREATE = `mutation($input: QueueInput!) {
  createQueue(input: $input) { ${RESULT} ... on CreateQueueSuccess { queue { id name path respond rules actions response } } }
}`;
const UPDATE = `mutation($id: ID!, $input: QueueInput!) {
  updateQueue(id: $id, input: $input) { ${RESULT} ... on UpdateQueueSuccess { queue { rules actions } } }
}`;
const QUEUE_NAMES = '{ queues { name } }';

async function post(server: TestServer, path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: response.status, text: await response.text() };
}

describe('queue rules and actions managed over GraphQL', () => {
  let server: TestServer;

  const createQueue = async (input: Record<string, unknown>, authorization = admin) =>
    (await gql(server, CREATE, { authorization, variables: { input } })).body.data?.createQueue;
  const queueNames = async () =>
    ((await gql(server, QUEUE_NAMES, { authorization: admin })).body.data?.queues ?? []).map(
      (q: { name: string }) => q.name,
    );

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('an admin creates a queue with path, rules, actions and a response, and it answers at its path', async () => {
    const name = uniqueName('orders');
    const path = `/hooks/${name}`;
    const input = {
      name,
      path,
      rules: { method: 'POST', body: { order: { id: '^ord_[0-9]+$' } } },
      actions: [{ eval: { block: "{% set _ = context.set('id', request.json.order.id) %}" } }],
      respond: 'AFTER_ACTIONS',
      response: { status: 202, headers: { 'x-seq': '{{ message.sequence }}' }, body: 'took {{ context.id }}' },
    };
    const created = await createQueue(input);
    expect(created).toMatchObject({
      __typename: 'CreateQueueSuccess',
      queue: {
        name,
        path,
        respond: 'AFTER_ACTIONS',
        rules: input.rules,
        actions: input.actions,
        response: input.response,
      },
    });
    expect(await post(server, path, '{"order":{"id":"ord_42"}}')).toEqual({ status: 202, text: 'took ord_42' });
    expect((await post(server, path, '{"order":{"id":"42"}}')).status).toBe(409);
    expect((await post(server, `/q/${name}`, '{"order":{"id":"ord_7"}}')).text).toBe('took ord_7');
  });

  it('refuses a rule RE2 cannot run, naming the field, and creates nothing', async () => {
    const name = uniqueName('bad-rule');
    const created = await createQueue({ name, rules: { body: { project: { name: '(a)\\1' } } } });
    expect(created.__typename).toBe('ValidationError');
    expect(created.message).toMatch(/body\.project\.name uses a backreference/);
    expect(created.fields).toEqual([
      { path: expect.stringMatching(/body\.project\.name$/), message: expect.stringMatching(/backreference/) },
    ]);
    expect(await queueNames()).not.toContain(name);
  });

  it('names a bad pattern by its path in the input, under rules', async () => {
    const created = await createQueue({
      name: uniqueName('bad-rule'),
      rules: { body: { project: { name: '(a)\\1' } } },
    });
    expect(created.fields?.[0]?.path).toBe('rules.body.project.name');
  });

  it('refuses an unknown action, listing the known ones, and creates nothing', async () => {
    const name = uniqueName('bad-action');
    const created = await createQueue({ name, actions: [{ log: { message: 'x' } }, { exec: { command: 'ls' } }] });
    expect(created.__typename).toBe('ValidationError');
    expect(created.fields).toEqual([{ path: 'actions[1].exec', message: expect.stringContaining('known:') }]);
    for (const known of [
      'docker',
      'docker-compose',
      'eval',
      'execute',
      'forward',
      'http',
      'log',
      'metrics',
      'publish',
    ]) {
      expect(created.fields[0].message).toContain(known);
    }
    expect(await queueNames()).not.toContain(name);
  });

  it('refuses a path the server answers itself, and a path another queue is served at', async () => {
    for (const path of ['/graphql', '/q/x', '/metrics']) {
      const created = await createQueue({ name: uniqueName('owned'), path });
      expect(created, path).toMatchObject({
        __typename: 'ValidationError',
        fields: [{ path: 'path', message: 'is a path the server answers itself' }],
      });
    }
    const path = `/hooks/${uniqueName('shared')}`;
    expect((await createQueue({ name: uniqueName('first'), path })).__typename).toBe('CreateQueueSuccess');
    const second = uniqueName('second');
    expect(await createQueue({ name: second, path })).toEqual({
      __typename: 'ConflictError',
      message: `Another queue is served at ${path}`,
    });
    expect(await queueNames()).not.toContain(second);
  });

  it('updateQueue keeps the actions and rules when left out, and clears the actions given []', async () => {
    const name = uniqueName('upd');
    const actions = [{ log: { message: 'seen {{ message.sequence }}' } }];
    const rules = { method: 'POST' };
    const created = await createQueue({ name, actions, rules });
    const id = created.queue.id;
    const update = async (input: Record<string, unknown>) =>
      (await gql(server, UPDATE, { authorization: admin, variables: { id, input: { name, ...input } } })).body.data
        ?.updateQueue;
    expect(await update({ description: 'edited' })).toMatchObject({ queue: { actions, rules } });
    expect(await update({ actions: [] })).toMatchObject({ queue: { actions: [], rules } });
    expect((await post(server, `/q/${name}`, '{}')).status).toBe(200);
    const run = await server.core.actionRuns.find(systemPrincipal, name, 1);
    expect(run.ok && run.value.actions).toEqual([]);
  });

  it('a member may not manage queues, see their rules, actions or refusals, nor rerun or follow runs', async () => {
    const name = uniqueName('guarded');
    const created = await createQueue({
      name,
      rules: { headers: { 'X-Event': '^push$' } },
      actions: [{ log: { message: 'secret-ish {{ message.sequence }}' } }],
      respond: 'AFTER_ACTIONS',
      response: { body: 'done' },
      rejected: 'STORE',
    });
    const id = created.queue.id;
    const member = await factories(server.core).user();
    const listened = await server.core.queues.setListeners(systemPrincipal, id, [member.user.id]);
    expect(listened.ok).toBe(true);
    expect((await post(server, `/q/${name}`, '{}', { 'x-event': 'push' })).status).toBe(200);
    expect((await post(server, `/q/${name}`, '{"leak":"me"}', { 'x-event': 'tag' })).status).toBe(409);
    await settledRun(server, name, 1);
    const as = member.authorization;

    expect(await createQueue({ name: uniqueName('mine'), actions: [] }, as)).toMatchObject({
      __typename: 'ForbiddenError',
    });
    const updated = await gql(server, UPDATE, { authorization: as, variables: { id, input: { name, actions: [] } } });
    expect(updated.body.data?.updateQueue).toMatchObject({ __typename: 'ForbiddenError' });

    const seen = await gql(server, `{ queue(name: "${name}") { name rules actions response } }`, { authorization: as });
    expect(seen.body.data?.queue).toEqual({ name, rules: null, actions: null, response: null });

    const rejected = await gql(server, `{ queue(name: "${name}") { rejectedMessages { body } } }`, {
      authorization: as,
    });
    expect(rejected.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(JSON.stringify(rejected.body)).not.toContain('leak');

    const rerun = await gql(server, `mutation { rerunActions(queue: "${name}", seq: 1) { ${RESULT} } }`, {
      authorization: as,
    });
    expect(rerun.body.data?.rerunActions).toMatchObject({ __typename: 'ForbiddenError' });
    await expectSubscriptionRefused(
      server.wsUrl,
      as,
      'subscription($q: String!) { actionRunUpdates(queue: $q, seq: 1) { status } }',
      { q: name },
      'FORBIDDEN',
    );
    // Nothing the member tried changed the queue or its run.
    const after = await gql(server, `{ queue(name: "${name}") { actions } }`, { authorization: admin });
    expect(after.body.data?.queue.actions).toEqual(created.queue.actions);
    const run = await server.core.actionRuns.find(systemPrincipal, name, 1);
    expect(run.ok && run.value.actions.map((a) => a.attempts)).toEqual([1]);
  });

  it('keeps refused requests when asked, newest first, paged with before', async () => {
    const name = uniqueName('kept');
    await createQueue({ name, rules: { body: { n: '^ok$' } }, rejected: 'STORE' });
    for (const n of ['r1', 'r2', 'r3']) expect((await post(server, `/q/${name}`, `{"n":"${n}"}`)).status).toBe(409);
    expect((await post(server, `/q/${name}`, '{"n":"ok"}')).status).toBe(200);
    const page = async (variables: Record<string, unknown>) => {
      const res = await gql(
        server,
        `query($name: String!, $first: Int, $before: ID) {
          queue(name: $name) { rejectedMessages(first: $first, before: $before) { id body rule field reason method path } }
        }`,
        { authorization: admin, variables: { name, ...variables } },
      );
      expect(res.body.errors).toBeUndefined();
      return res.body.data?.queue.rejectedMessages as Array<Record<string, string>>;
    };
    const first = await page({ first: 2 });
    expect(first.map((r) => r.body)).toEqual(['{"n":"r3"}', '{"n":"r2"}']);
    expect(first[0]).toMatchObject({ rule: 'body.n', field: 'n', method: 'POST', path: `/q/${name}` });
    expect(first[0]?.reason).toContain('r3');
    const rest = await page({ first: 2, before: first[1]?.id });
    expect(rest.map((r) => r.body)).toEqual(['{"n":"r1"}']);
    expect(await page({ before: rest[0]?.id })).toEqual([]);
  });

  it('answers nothing before the first refused request, not the newest page again', async () => {
    const name = uniqueName('kept-edge');
    await createQueue({ name, rules: { body: { n: '^ok$' } }, rejected: 'STORE' });
    expect((await post(server, `/q/${name}`, '{"n":"no"}')).status).toBe(409);
    const res = await gql(server, `{ queue(name: "${name}") { rejectedMessages(before: "0") { body } } }`, {
      authorization: admin,
    });
    expect(res.body.data?.queue.rejectedMessages).toEqual([]);
  });

  it('the metrics action counts runs on /metrics by the labels it renders, and a clashing type fails its run', async () => {
    const counter = await createQueue({
      name: uniqueName('counted'),
      actions: [
        { metrics: { counter: { name: 'orders_seen_total', labels: { topic: '{{ request.headers["X-Topic"] }}' } } } },
      ],
    });
    const name = counter.queue.name;
    for (const seq of [1, 2]) {
      expect((await post(server, `/q/${name}`, '{}', { 'x-topic': 'orders' })).status).toBe(200);
      expect((await settledRun(server, name, seq)).status).toBe('succeeded');
    }
    const metrics = await eventually(
      async () => (await fetch(`${server.url}/metrics`)).text(),
      (text) => text.includes('orders_seen_total{topic="orders"} 2'),
    );
    expect(metrics).toContain('# TYPE orders_seen_total counter');

    const gauge = await createQueue({
      name: uniqueName('gauged'),
      actions: [{ metrics: { gauge: { name: 'orders_seen_total', labels: { topic: 'x' } } } }],
    });
    expect((await post(server, `/q/${gauge.queue.name}`, '{}')).status).toBe(200);
    const run = await settledRun(server, gauge.queue.name, 1);
    expect(run.status).toBe('failed');
    expect(run.error).toBe(
      'metrics (action 1) failed: metric "orders_seen_total" cannot be registered as a gauge: metric "orders_seen_total" is already a counter with labels [topic]',
    );
    expect(await (await fetch(`${server.url}/metrics`)).text()).toContain('orders_seen_total{topic="orders"} 2');
  });
});
