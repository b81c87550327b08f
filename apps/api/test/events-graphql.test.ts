import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventType,
  createSubscription,
  eventually,
  hasValidSignature,
  publish,
  startDeliveryServer,
} from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const EVENT = `query($id: ID!) { event(id: $id) { id type payload status publisherId
  deliveries { edges { node { webhookId status subscriptionId eventType } } } } }`;
const EVENTS = `query($type: String, $status: EventStatus, $since: DateTime, $until: DateTime,
  $first: Int, $after: String, $last: Int, $before: String) {
  events(type: $type, status: $status, since: $since, until: $until, first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id payload status } }
  }
}`;
const REPLAY = `mutation($id: ID!, $subscriptionId: ID) {
  replayEvent(id: $id, subscriptionId: $subscriptionId) {
    __typename ... on ReplayEventSuccess { deliveryCount } ... on Error { message }
  }
}`;

describe('events over GraphQL', () => {
  let env: Awaited<ReturnType<typeof startDeliveryServer>>;
  let alice: Awaited<ReturnType<ReturnType<typeof factories>['user']>>;
  let bob: typeof alice;
  let invoices: { id: string; secret: string };
  let orders: { id: string; secret: string };
  const server = () => env.server;
  const as = async (authorization: string, query: string, variables: Record<string, unknown> = {}) =>
    (await gql(server(), query, { authorization, variables })).body;

  beforeAll(async () => {
    env = await startDeliveryServer();
    const make = factories(env.server.core);
    alice = await make.user();
    bob = await make.user();
    await createEventType(env.server, 'invoice.paid', {
      type: 'object',
      required: ['id'],
      properties: { id: { type: 'string' }, amount: { type: 'integer' } },
    });
    for (const name of ['order.shipped', 'order.checked', 'page.test']) await createEventType(env.server, name);
    const url = (path: string) => `${env.receiver.url}${path}`;
    invoices = await createSubscription(server(), alice.authorization, {
      name: 'invoices',
      url: url('/invoices'),
      eventTypes: ['invoice.paid'],
    });
    orders = await createSubscription(server(), bob.authorization, {
      name: 'orders',
      url: url('/orders'),
      eventTypes: ['order.shipped'],
    });
  });
  afterAll(async () => {
    await env.close();
  });

  it('publishEvent stores the event and delivers it, signed, to the subscriptions that match', async () => {
    const published = await publish(server(), alice.authorization, {
      type: 'invoice.paid',
      payload: { id: 'in_1', amount: 5 },
      idempotencyKey: 'key-1',
    });
    expect(published).toEqual({
      __typename: 'PublishEventSuccess',
      duplicate: false,
      deliveryCount: 1,
      event: {
        id: expect.any(String),
        type: 'invoice.paid',
        payload: { id: 'in_1', amount: 5 },
        status: 'PUBLISHED',
        cancelReason: null,
        publisherId: alice.user.id,
        idempotencyKey: 'key-1',
      },
      cancellation: null,
      blocking: [],
    });
    const [request] = await eventually(
      async () => env.at('/invoices'),
      (requests) => requests.length === 1,
    );
    expect(JSON.parse(request!.body.toString())).toEqual({
      type: 'invoice.paid',
      timestamp: expect.any(String),
      data: { id: 'in_1', amount: 5 },
    });
    expect(hasValidSignature(request!, invoices.secret)).toBe(true);
    expect(hasValidSignature(request!, orders.secret)).toBe(false);
    const read = await eventually(
      () => as(alice.authorization, EVENT, { id: published.event.id }),
      (body) => body.data?.event.deliveries.edges[0]?.node.status === 'SUCCEEDED',
    );
    expect(read.data?.event.deliveries.edges).toEqual([
      {
        node: {
          webhookId: request!.headers['webhook-id'],
          status: 'SUCCEEDED',
          subscriptionId: invoices.id,
          eventType: 'invoice.paid',
        },
      },
    ]);
    expect(env.at('/orders')).toEqual([]);
  });

  it('an idempotency key or the content returns the first event; a reused key with other content conflicts', async () => {
    const first = await publish(server(), alice.authorization, {
      type: 'page.test',
      payload: { a: 1 },
      idempotencyKey: 'k',
    });
    const again = await publish(server(), alice.authorization, {
      type: 'page.test',
      payload: { a: 1 },
      idempotencyKey: 'k',
    });
    expect(again).toMatchObject({ duplicate: true, deliveryCount: 0, event: { id: first.event.id } });
    const other = await publish(server(), alice.authorization, {
      type: 'page.test',
      payload: { a: 2 },
      idempotencyKey: 'k',
    });
    expect(other).toEqual({ __typename: 'ConflictError', message: expect.stringContaining(first.event.id) });
    const byContent = { type: 'page.test', payload: { x: 1, y: 2 }, dedupeByContent: true };
    const one = await publish(server(), alice.authorization, byContent);
    const two = await publish(server(), alice.authorization, { ...byContent, payload: { y: 2, x: 1 } });
    expect(two).toMatchObject({ duplicate: true, event: { id: one.event.id } });
    // Keys belong to their publisher: the same key from someone else is a new event.
    const bobs = await publish(server(), bob.authorization, {
      type: 'page.test',
      payload: { a: 1 },
      idempotencyKey: 'k',
    });
    expect(bobs).toMatchObject({ duplicate: false, event: { publisherId: bob.user.id } });
  });

  it('refuses an unknown type, a payload its schema rejects and a malformed key, storing nothing', async () => {
    const unknown = await publish(server(), alice.authorization, { type: 'no.such', payload: {} });
    expect(unknown.fields).toEqual([{ path: 'type', message: expect.stringContaining('not a known event type') }]);
    const invalid = await publish(server(), alice.authorization, { type: 'invoice.paid', payload: { amount: 'x' } });
    expect(invalid.__typename).toBe('ValidationError');
    expect(invalid.fields.map((f: { path: string }) => f.path).sort()).toEqual(['payload', 'payload/amount']);
    const badKey = await publish(server(), alice.authorization, {
      type: 'invoice.paid',
      payload: { id: 'x' },
      idempotencyKey: 'has spaces',
    });
    expect(badKey.fields).toEqual([{ path: 'idempotencyKey', message: expect.any(String) }]);
    const stored = await as(admin, EVENTS, { type: 'invoice.paid' });
    expect(stored.data?.events.edges).toHaveLength(1);
    expect(env.at('/invoices')).toHaveLength(1);
  });

  it('a blocking subscription answers first when the publisher waits, and can cancel the event', async () => {
    const gate = await createSubscription(server(), bob.authorization, {
      name: 'gate',
      url: `${env.receiver.url}/gate`,
      eventTypes: ['order.checked'],
      mode: 'BLOCKING',
    });
    env.replies.set('/gate', {
      status: 200,
      headers: { 'content-type': 'application/vnd.switchboard.cancel+json' },
      body: JSON.stringify({ reason: 'out of stock' }),
    });
    const published = await publish(server(), bob.authorization, { type: 'order.checked', payload: {}, wait: true });
    expect(published).toMatchObject({
      deliveryCount: 1,
      event: { status: 'CANCELLED', cancelReason: 'out of stock' },
      cancellation: { reason: 'out of stock', subscriptionId: gate.id },
      blocking: [{ subscriptionId: gate.id, succeeded: true, statusCode: 200, error: null }],
    });
    expect(env.at('/gate')).toHaveLength(1);
    const cancelled = await as(admin, EVENTS, { status: 'CANCELLED' });
    expect(cancelled.data?.events.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([published.event.id]);
    const replayed = await as(bob.authorization, REPLAY, { id: published.event.id });
    expect(replayed.data?.replayEvent.__typename).toBe('ConflictError');
  });

  it('pages events newest first, filters them, and refuses malformed cursors and ids', async () => {
    const since = new Date().toISOString();
    for (const n of [1, 2, 3]) await publish(server(), alice.authorization, { type: 'page.test', payload: { n } });
    const page = (variables: Record<string, unknown>) =>
      as(alice.authorization, EVENTS, { type: 'page.test', since, ...variables });
    const first = await page({ first: 2 });
    expect(first.data?.events.edges.map((e: any) => e.node.payload)).toEqual([{ n: 3 }, { n: 2 }]);
    expect(first.data?.events.pageInfo.hasNextPage).toBe(true);
    const rest = await page({ first: 2, after: first.data?.events.pageInfo.endCursor });
    expect(rest.data?.events.edges.map((e: any) => e.node.payload)).toEqual([{ n: 1 }]);
    expect(rest.data?.events.pageInfo.hasNextPage).toBe(false);
    const oldest = await page({ last: 1 });
    expect(oldest.data?.events.edges.map((e: any) => e.node.payload)).toEqual([{ n: 1 }]);
    const back = await page({ last: 5, before: rest.data?.events.edges[0].cursor });
    expect(back.data?.events.edges.map((e: any) => e.node.payload)).toEqual([{ n: 3 }, { n: 2 }]);
    expect((await page({ until: since })).data?.events.edges).toEqual([]);
    expect((await page({ since: new Date(Date.now() + 60_000).toISOString() })).data?.events.edges).toEqual([]);

    for (const after of ['garbage', '123:not-a-uuid', `12:${alice.user.id}:x`]) {
      expect((await page({ after })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect((await as(alice.authorization, EVENT, { id: 'nope' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const missing = await as(alice.authorization, EVENT, { id: '00000000-0000-4000-8000-000000000000' });
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('replayEvent delivers again with new webhook ids, to every match or to one subscription', async () => {
    const published = await publish(server(), alice.authorization, { type: 'invoice.paid', payload: { id: 'in_2' } });
    await eventually(
      async () => env.at('/invoices'),
      (r) => r.length === 2,
    );
    const toAll = await as(alice.authorization, REPLAY, { id: published.event.id });
    expect(toAll.data?.replayEvent).toEqual({ __typename: 'ReplayEventSuccess', deliveryCount: 1 });
    const toOne = await as(alice.authorization, REPLAY, { id: published.event.id, subscriptionId: invoices.id });
    expect(toOne.data?.replayEvent.deliveryCount).toBe(1);
    const requests = await eventually(
      async () => env.at('/invoices'),
      (r) => r.length === 4,
    );
    const ids = requests.slice(1).map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(3);
    expect(requests.slice(1).map((r) => JSON.parse(r.body.toString()).data)).toEqual([
      { id: 'in_2' },
      { id: 'in_2' },
      { id: 'in_2' },
    ]);

    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await as(alice.authorization, REPLAY, { id: missing })).data?.replayEvent.__typename).toBe('NotFoundError');
    const noSub = await as(alice.authorization, REPLAY, { id: published.event.id, subscriptionId: missing });
    expect(noSub.data?.replayEvent.__typename).toBe('NotFoundError');
    const SET = 'mutation($id: ID!, $on: Boolean!) { setSubscriptionEnabled(id: $id, enabled: $on) { __typename } }';
    await as(alice.authorization, SET, { id: invoices.id, on: false });
    const disabled = await as(alice.authorization, REPLAY, { id: published.event.id, subscriptionId: invoices.id });
    expect(disabled.data?.replayEvent.__typename).toBe('ConflictError');
    await as(alice.authorization, SET, { id: invoices.id, on: true });
    expect((await as(alice.authorization, REPLAY, { id: 'bad' })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('a member sees the events they published or received, and only their own deliveries of them', async () => {
    const mine = await publish(server(), alice.authorization, { type: 'invoice.paid', payload: { id: 'in_3' } });
    const forBob = await publish(server(), alice.authorization, { type: 'order.shipped', payload: { o: 1 } });
    expect(forBob.deliveryCount).toBe(1);
    const hidden = await as(bob.authorization, EVENT, { id: mine.event.id });
    expect(hidden.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const bobs = await as(bob.authorization, EVENTS, { first: 100 });
    const seen = bobs.data?.events.edges.map((e: { node: { id: string } }) => e.node.id);
    expect(seen).toContain(forBob.event.id);
    expect(seen).not.toContain(mine.event.id);
    const replay = await as(bob.authorization, REPLAY, { id: mine.event.id, subscriptionId: orders.id });
    expect(replay.data?.replayEvent.__typename).toBe('NotFoundError');
    // Alice published it, so she sees the event, but the delivery belongs to Bob's subscription.
    const asAlice = await as(alice.authorization, EVENT, { id: forBob.event.id });
    expect(asAlice.data?.event.deliveries.edges).toEqual([]);
    const asBob = await as(bob.authorization, EVENT, { id: forBob.event.id });
    expect(asBob.data?.event.deliveries.edges.map((e: any) => e.node.subscriptionId)).toEqual([orders.id]);
    const intoBobs = await as(alice.authorization, REPLAY, { id: forBob.event.id, subscriptionId: orders.id });
    expect(intoBobs.data?.replayEvent.__typename).toBe('NotFoundError');
    const toAllByBob = await as(bob.authorization, REPLAY, { id: forBob.event.id });
    expect(toAllByBob.data?.replayEvent.__typename).toBe('ForbiddenError');
  });

  it('publishing needs events:publish, reading events a scope for them, and credentials', async () => {
    const subscriptionsOnly = await alice.token(['subscriptions:read']);
    const refused = await publish(server(), subscriptionsOnly.authorization, { type: 'page.test', payload: {} });
    expect(refused.__typename).toBe('ForbiddenError');
    const queuesOnly = await alice.token(['queues:read']);
    expect((await as(queuesOnly.authorization, EVENTS, {})).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const publisher = await alice.token(['events:publish']);
    const published = await publish(server(), publisher.authorization, { type: 'page.test', payload: { t: 1 } });
    expect(published.__typename).toBe('PublishEventSuccess');
    const read = await as(publisher.authorization, 'query($id: ID!) { event(id: $id) { payload } }', {
      id: published.event.id,
    });
    expect(read.data?.event.payload).toEqual({ t: 1 });
    // Deliveries are the subscriptions' business: a publishing token does not see them.
    expect((await as(publisher.authorization, EVENT, { id: published.event.id })).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    const replayToOne = await as(publisher.authorization, REPLAY, {
      id: published.event.id,
      subscriptionId: invoices.id,
    });
    expect(replayToOne.data?.replayEvent.__typename).toBe('ForbiddenError');

    const anonymous = await gql(
      server(),
      'mutation { publishEvent(input: { type: "page.test", payload: {} }) { __typename } }',
    );
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await gql(server(), '{ events { edges { cursor } } }')).body.errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
    const count = await as(admin, EVENTS, { type: 'page.test', first: 100 });
    expect(count.data?.events.edges.map((e: any) => e.node.payload)).not.toContainEqual({});
  });
});
