import { type QueueDefinition, systemPrincipal } from '@switchboard/core';
import { headersOf, type ReceivedRequest, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settledRun } from './action-fixtures.ts';
import { createEventType, eventually, hasValidSignature, subscribeOverWebSocket } from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * A queue's rules and actions in Switchboard's own terms, over real HTTP against a real database:
 * refusals that name the rule, `publish` and `forward` through the outbound engine, commands
 * behind ALLOW_COMMANDS, template errors and escapes, answers made after the actions, and the
 * runs as admins see them in GraphQL.
 */

async function makeQueue(server: TestServer, definition: Omit<QueueDefinition, 'name'>): Promise<string> {
  const name = uniqueName('q');
  const created = await server.core.queues.create(systemPrincipal, { name, ...definition });
  if (!created.ok) throw new Error(`${created.error.message}: ${JSON.stringify(created.error.fields)}`);
  return name;
}

async function post(server: TestServer, path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: (() => {
      try {
        return JSON.parse(text);
      } catch {
        return null;
      }
    })(),
  };
}

const stripVolatile = (request: ReceivedRequest) => {
  const { host: _host, connection: _connection, 'content-length': _length, ...rest } = request.headers;
  return rest;
};

describe('queue rules and actions', () => {
  let server: TestServer;
  let receiver: TestReceiver;
  const replies = new Map<string, number[]>();

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    receiver = await startReceiver((request) => {
      const planned = replies.get(request.path);
      return { status: planned && planned.length > 0 ? (planned.shift() as number) : 200, body: 'received' };
    });
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  it('refuses a request its rules refuse, naming the rule and the field, and stores nothing (or keeps it as rejected when asked)', async () => {
    const rules = {
      method: 'POST',
      headers: { 'X-Event': '^order\\.' },
      body: { order: { lines: { sku: '^[A-Z]{3}-[0-9]+$' } } },
    };
    const name = await makeQueue(server, { rules });
    const refused = await post(
      server,
      `/q/${name}`,
      JSON.stringify({ order: { lines: [{ sku: 'ABC-1' }, { sku: 'abc' }] } }),
      {
        'x-event': 'order.created',
      },
    );
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ rule: 'body.order.lines.sku' });
    expect(refused.json.message).toContain('order.lines[1].sku');
    const wrongHeader = await post(server, `/q/${name}`, JSON.stringify({ order: { lines: [] } }), {
      'x-event': 'invoice.paid',
    });
    expect(wrongHeader.status).toBe(409);
    expect(wrongHeader.json.message).toMatch(/X-Event/);
    const accepted = await post(server, `/q/${name}`, JSON.stringify({ order: { lines: [{ sku: 'ABC-1' }] } }), {
      'x-event': 'order.created',
    });
    expect(accepted).toMatchObject({ status: 200, json: { id: 1 } });
    const queue = await server.core.queues.getByName(systemPrincipal, name);
    expect(queue.ok && queue.value.messageCount).toBe(1);

    const kept = await makeQueue(server, { rules, rejected: 'store' });
    await post(server, `/q/${kept}`, JSON.stringify({ order: { lines: [{ sku: 'x' }] } }), {
      'x-event': 'order.created',
    });
    const res = await gql(
      server,
      `query($name: String!) { queue(name: $name) { messageCount rejectedMessages { rule field reason body } } }`,
      {
        authorization: basic(ADMIN.username, ADMIN.password),
        variables: { name: kept },
      },
    );
    expect(res.body.data?.queue.messageCount).toBe(0);
    expect(res.body.data?.queue.rejectedMessages).toEqual([
      expect.objectContaining({
        rule: 'body.order.lines.sku',
        field: 'order.lines[0].sku',
        body: '{"order":{"lines":[{"sku":"x"}]}}',
      }),
    ]);
  });

  it('publish turns one inbound message into an event that reaches two subscriptions', async () => {
    const type = `${uniqueName('shop')}.order.created`;
    await createEventType(server, type);
    const secrets: string[] = [];
    for (const path of ['/pub-a', '/pub-b']) {
      const admin = await server.core.users.findByUsername(ADMIN.username);
      const created = await server.core.subscriptions.create(
        systemPrincipal,
        { name: uniqueName('sub'), url: `${receiver.url}${path}`, eventTypes: [type] },
        { userId: admin?.id },
      );
      if (!created.ok) throw new Error(created.error.message);
      secrets.push(created.value.secret);
    }
    const name = await makeQueue(server, { actions: [{ publish: { type, path: 'data' } }] });
    const sent = await post(server, `/q/${name}`, JSON.stringify({ data: { id: 'ord_1', total: 42 } }));
    expect(sent.status).toBe(200);
    await eventually(
      async () => receiver.requests.filter((r) => r.path.startsWith('/pub-')),
      (r) => r.length >= 2,
    );
    const got = receiver.requests.filter((r) => r.path.startsWith('/pub-'));
    expect(got.map((r) => r.path).sort()).toEqual(['/pub-a', '/pub-b']);
    for (const request of got) {
      const body = JSON.parse(request.body.toString());
      expect(body).toMatchObject({ type, data: { id: 'ord_1', total: 42 } });
      expect(hasValidSignature(request, secrets[request.path === '/pub-a' ? 0 : 1] as string)).toBe(true);
    }
    const run = await settledRun(server, name, 1);
    expect(run.actions[0]).toMatchObject({ action: 'publish', status: 'succeeded' });
  });

  it('forward resends the exact bytes and headers to two services, retrying the one that answered 500', async () => {
    const name = await makeQueue(server, {
      actions: [
        { forward: { target: `${receiver.url}/fwd-a` } },
        { forward: { target: `${receiver.url}/fwd-b?x=1`, retry: { attempts: 3, delays: [0] } } },
      ],
    });
    replies.set('/fwd-b?x=1', [500]);
    // Bytes that a JSON round trip would change: spacing, key order, an escaped slash, a float.
    const body = '{ "b":1,  "a": "x\\/y", "n": 1.50 }\n';
    const sent = await post(server, `/q/${name}`, body, { 'x-provider-signature': 'sig=abc', 'x-custom': 'kept' });
    expect(sent.status).toBe(200);
    await eventually(
      async () => receiver.requests.filter((r) => r.path.startsWith('/fwd-')),
      (r) => r.length >= 3,
    );
    const a = receiver.requests.filter((r) => r.path === '/fwd-a');
    const b = receiver.requests.filter((r) => r.path === '/fwd-b?x=1');
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(2);
    for (const request of [...a, ...b]) {
      expect(request.method).toBe('POST');
      expect(request.body.toString()).toBe(body);
      expect(stripVolatile(request)).toMatchObject({
        'content-type': 'application/json',
        'x-provider-signature': 'sig=abc',
        'x-custom': 'kept',
      });
    }
    // Each forward is a delivery: one webhook-id across its attempts, attempts recorded.
    expect(headersOf(b[0] as ReceivedRequest)['webhook-id']).toBe(headersOf(b[1] as ReceivedRequest)['webhook-id']);
    const run = await eventually(
      async () => await server.core.actionRuns.find(systemPrincipal, name, 1),
      (run) => run.ok && run.value.actions[1]?.deliveryStatus === 'succeeded',
    );
    if (!run.ok) throw new Error('no run');
    expect(run.value.actions.map((x) => [x.action, x.status, x.deliveryStatus, x.deliveryAttempts])).toEqual([
      ['forward', 'queued', 'succeeded', 1],
      ['forward', 'queued', 'succeeded', 2],
    ]);
  });

  it('records a template error and stops the actions after it, and the server goes on', async () => {
    const name = await makeQueue(server, {
      actions: [
        { eval: { block: "{% set _ = context.set('seen', request.json.x) %}" } },
        {
          eval: {
            block: "{% if context.seen == 'bad' %}{{ error('x was bad: ' ~ context.seen) }}{% endif %}",
            retry: { attempts: 1 },
          },
        },
        { log: { message: 'never printed' } },
      ],
    });
    expect((await post(server, `/q/${name}`, '{"x":"bad"}')).status).toBe(200);
    const run = await settledRun(server, name, 1);
    expect(run.status).toBe('failed');
    expect(run.error).toBe('eval (action 2) failed: x was bad: bad');
    expect(run.actions.map((x) => [x.action, x.status])).toEqual([
      ['eval', 'succeeded'],
      ['eval', 'failed'],
    ]);
    expect((await post(server, `/q/${name}`, '{"x":"good"}')).status).toBe(200);
    expect((await settledRun(server, name, 2)).status).toBe('succeeded');
  });

  it('renders sandbox escapes as nothing harmful: no template reaches the process', async () => {
    const escapes = [
      "{{ ''.constructor.constructor('return process')() }}",
      '{{ request.constructor }}',
      '{{ request.__proto__ }}',
      "{{ context.set.constructor('return process')() }}",
    ];
    const name = await makeQueue(server, {
      actions: escapes.map((message) => ({ log: { message, retry: { attempts: 1 } } })),
    });
    expect((await post(server, `/q/${name}`, '{}')).status).toBe(200);
    const run = await settledRun(server, name, 1);
    for (const action of run.actions) {
      // What `process` (or a function's source) would print, had an escape reached it.
      expect(`${action.output ?? ''}${action.error ?? ''}`).not.toMatch(
        /\[object|native code|v\d+\.\d+\.\d+|node_modules/,
      );
    }
  });

  it('answers after its actions with the templated response, and Slack and challenge handshakes with their presets', async () => {
    const name = await makeQueue(server, {
      respond: 'after-actions',
      actions: [{ eval: { block: "{% set _ = context.set('greeting', 'hello ' ~ request.json.name) %}" } }],
      response: {
        status: 201,
        headers: { 'x-answer': '{{ message.sequence }}' },
        body: '{{ context.greeting }} from {{ message.queue }}',
      },
    });
    const answered = await post(server, `/q/${name}`, '{"name":"ada"}');
    expect(answered.status).toBe(201);
    expect(answered.text).toBe(`hello ada from ${name}`);
    expect(answered.headers.get('x-answer')).toBe('1');

    const slack = await makeQueue(server, { respond: 'after-actions', response: { preset: 'slack' } });
    const handshake = await post(
      server,
      `/q/${slack}`,
      JSON.stringify({ type: 'url_verification', challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' }),
    );
    expect(handshake.json).toEqual({ challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' });
    expect((await post(server, `/q/${slack}`, JSON.stringify({ type: 'event_callback' }))).json).toEqual({ id: 2 });

    const challenge = await makeQueue(server, {
      respond: 'after-actions',
      response: { preset: 'challenge' },
      rules: { method: ['GET', 'POST'] },
    });
    const echoed = await fetch(`${server.url}/q/${challenge}?hub.challenge=1158201444&hub.mode=subscribe`);
    expect(echoed.status).toBe(200);
    expect(await echoed.text()).toBe('1158201444');
  });

  it('refuses execute unless the server allows commands', async () => {
    const name = await makeQueue(server, {
      actions: [{ execute: { command: ['echo', 'hi'], retry: { attempts: 1 } } }],
    });
    expect((await post(server, `/q/${name}`, '{}')).status).toBe(200);
    const run = await settledRun(server, name, 1);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/ALLOW_COMMANDS/);
  });

  it('shows runs to admins only, runs them again, and streams their changes', async () => {
    const name = await makeQueue(server, { actions: [{ log: { message: 'run of {{ message.sequence }}' } }] });
    expect((await post(server, `/q/${name}`, '{}')).status).toBe(200);
    await settledRun(server, name, 1);
    const admin = basic(ADMIN.username, ADMIN.password);
    const query = `query($name: String!) { queue(name: $name) { actions messages(first: 1) { edges { node { seq actionRun { status actions { action status output attempts } } } } } } }`;
    const seen = await gql(server, query, { authorization: admin, variables: { name } });
    expect(seen.body.errors).toBeUndefined();
    expect(seen.body.data?.queue.actions).toEqual([{ log: { message: 'run of {{ message.sequence }}' } }]);
    expect(seen.body.data?.queue.messages.edges[0].node.actionRun).toEqual({
      status: 'succeeded',
      actions: [{ action: 'log', status: 'succeeded', output: 'run of 1', attempts: 1 }],
    });

    const member = await factories(server.core).user();
    const queue = await server.core.queues.getByName(systemPrincipal, name);
    if (!queue.ok) throw new Error(queue.error.message);
    await server.core.queues.setListeners(systemPrincipal, queue.value.id, [member.user.id]);
    const asMember = await gql(server, query, { authorization: member.authorization, variables: { name } });
    expect(asMember.body.data?.queue.actions).toBeNull();
    expect(asMember.body.data?.queue.messages.edges[0].node.actionRun).toBeNull();
    const memberRerun = await gql(
      server,
      `mutation { rerunActions(queue: "${name}", seq: 1) { __typename ... on Error { message } } }`,
      {
        authorization: member.authorization,
      },
    );
    expect(memberRerun.body.data?.rerunActions).toMatchObject({ __typename: 'ForbiddenError' });

    const stream = subscribeOverWebSocket(
      server.wsUrl,
      admin,
      `subscription($q: String!) { actionRunUpdates(queue: $q, seq: 1) { status actions { attempts } } }`,
      { q: name },
    );
    await eventually(
      async () => stream.received.length,
      (n) => n >= 1,
    );
    const rerun = await gql(
      server,
      `mutation { rerunActions(queue: "${name}", seq: 1) { __typename ... on RerunActionsSuccess { run { status } } } }`,
      {
        authorization: admin,
      },
    );
    expect(rerun.body.data?.rerunActions.__typename).toBe('RerunActionsSuccess');
    await eventually(
      async () => stream.received.at(-1),
      (last) => last?.actionRunUpdates.status === 'succeeded' && stream.received.length >= 2,
    );
    expect(stream.errors).toEqual([]);
    await stream.close();
  });
});
