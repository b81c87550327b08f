import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEventType,
  createSubscription,
  eventually,
  expectSubscriptionRefused,
  publish,
  startDeliveryServer,
  subscribeOverWebSocket,
} from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const DELIVERIES = `query($subscriptionId: ID, $eventId: ID, $status: [DeliveryStatus!], $since: DateTime,
  $first: Int, $after: String, $last: Int, $before: String) {
  deliveries(subscriptionId: $subscriptionId, eventId: $eventId, status: $status, since: $since,
    first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id eventId status } }
  }
}`;
const DELIVERY = `query($id: ID!) { delivery(id: $id) {
  id webhookId eventId eventType subscriptionId status attemptCount lastStatusCode lastError completedAt
  attempts { number statusCode responseBody responseBodyBase64 responseHeaders { name value } responseTruncated error succeeded durationMs }
} }`;
const RETRY = `mutation($id: ID!) {
  retryDelivery(id: $id) { __typename ... on RetryDeliverySuccess { delivery { id status } } ... on Error { message } }
}`;
const UPDATES = `subscription($subscriptionId: ID, $eventId: ID) {
  deliveryUpdates(subscriptionId: $subscriptionId, eventId: $eventId) {
    id eventId subscriptionId status attempts { statusCode }
  }
}`;
const MISSING = '00000000-0000-4000-8000-000000000000';

describe('deliveries over GraphQL', () => {
  let env: Awaited<ReturnType<typeof startDeliveryServer>>;
  let alice: Awaited<ReturnType<ReturnType<typeof factories>['user']>>;
  let bob: typeof alice;
  let hooks: string;
  let bobs: string;
  const state: { failed?: string; succeeded?: string; failedEvent?: string; succeededEvent?: string } = {};
  const as = async (authorization: string, query: string, variables: Record<string, unknown> = {}) =>
    (await gql(env.server, query, { authorization, variables })).body;
  const ids = (body: any) => body.data?.deliveries.edges.map((e: { node: { id: string } }) => e.node.id);

  beforeAll(async () => {
    env = await startDeliveryServer();
    const make = factories(env.server.core);
    alice = await make.user();
    bob = await make.user();
    await createEventType(env.server, 'thing.happened');
    const input = (name: string) => ({
      name,
      url: `${env.receiver.url}/${name}`,
      eventTypes: ['thing.*'],
      retryPolicy: { maxAttempts: 1 },
    });
    hooks = (await createSubscription(env.server, alice.authorization, input('hooks'))).id;
    bobs = (await createSubscription(env.server, bob.authorization, input('bobs'))).id;
  });
  afterAll(async () => {
    await env.close();
  });

  it('lists deliveries newest first with filters, and shows every attempt of one', async () => {
    env.replies.set('/hooks', { status: 500, body: 'nope', headers: { 'x-reason': 'down' } });
    state.failedEvent = (
      await publish(env.server, alice.authorization, { type: 'thing.happened', payload: { n: 1 } })
    ).event.id;
    const settled = (status: string) => (body: any) => body.data?.deliveries.edges[0]?.node.status === status;
    const failed = await eventually(
      () => as(alice.authorization, DELIVERIES, { subscriptionId: hooks }),
      settled('FAILED'),
    );
    state.failed = failed.data?.deliveries.edges[0].node.id;
    env.replies.set('/hooks', { status: 200, body: 'ok' });
    state.succeededEvent = (
      await publish(env.server, alice.authorization, { type: 'thing.happened', payload: { n: 2 } })
    ).event.id;
    const both = await eventually(
      () => as(alice.authorization, DELIVERIES, { subscriptionId: hooks }),
      (body) => settled('SUCCEEDED')(body) && body.data?.deliveries.edges.length === 2,
    );
    state.succeeded = both.data?.deliveries.edges[0].node.id;
    expect(both.data?.deliveries.edges.map((e: any) => e.node)).toEqual([
      { id: state.succeeded, eventId: state.succeededEvent, status: 'SUCCEEDED' },
      { id: state.failed, eventId: state.failedEvent, status: 'FAILED' },
    ]);

    const page = (variables: Record<string, unknown>) =>
      as(alice.authorization, DELIVERIES, { subscriptionId: hooks, ...variables });
    expect(ids(await page({ status: ['FAILED'] }))).toEqual([state.failed]);
    expect(ids(await page({ status: ['FAILED', 'SUCCEEDED'] }))).toEqual([state.succeeded, state.failed]);
    expect(ids(await page({ eventId: state.succeededEvent }))).toEqual([state.succeeded]);
    expect(ids(await page({ since: new Date(Date.now() + 60_000).toISOString() }))).toEqual([]);
    const first = await page({ first: 1 });
    expect(ids(first)).toEqual([state.succeeded]);
    expect(first.data?.deliveries.pageInfo).toEqual({ hasNextPage: true, endCursor: state.succeeded });
    expect(ids(await page({ first: 1, after: state.succeeded }))).toEqual([state.failed]);
    expect(ids(await page({ last: 1 }))).toEqual([state.failed]);
    expect(ids(await page({ last: 1, before: state.failed }))).toEqual([state.succeeded]);

    const request = env.at('/hooks')[0]!;
    const one = await as(alice.authorization, DELIVERY, { id: state.failed });
    expect(one.data?.delivery).toMatchObject({
      id: state.failed,
      webhookId: request.headers['webhook-id'],
      eventId: state.failedEvent,
      eventType: 'thing.happened',
      subscriptionId: hooks,
      status: 'FAILED',
      attemptCount: 1,
      lastStatusCode: 500,
      lastError: 'HTTP 500 (no attempts left)',
      completedAt: expect.any(String),
    });
    expect(one.data?.delivery.attempts).toEqual([
      {
        number: 1,
        statusCode: 500,
        responseBody: 'nope',
        responseBodyBase64: Buffer.from('nope').toString('base64'),
        responseHeaders: expect.arrayContaining([{ name: 'x-reason', value: 'down' }]),
        responseTruncated: false,
        error: 'HTTP 500 (no attempts left)',
        succeeded: false,
        durationMs: expect.any(Number),
      },
    ]);
  });

  it('refuses malformed ids and cursors as client errors; an unknown delivery is not found', async () => {
    for (const [query, variables] of [
      [DELIVERY, { id: 'abc' }],
      [DELIVERY, { id: '-1' }],
      [DELIVERIES, { after: 'abc' }],
      [DELIVERIES, { subscriptionId: 'not-a-uuid' }],
      [DELIVERIES, { eventId: '12' }],
      [RETRY, { id: '1.5' }],
    ] as const) {
      const body = await as(alice.authorization, query, variables);
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect((await as(alice.authorization, DELIVERY, { id: '999999' })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await as(alice.authorization, RETRY, { id: '999999' })).data?.retryDelivery.__typename).toBe(
      'NotFoundError',
    );
  });

  it('retryDelivery sends a failed delivery again, with the same webhook id', async () => {
    const retried = await as(alice.authorization, RETRY, { id: state.failed });
    expect(retried.data?.retryDelivery).toMatchObject({
      __typename: 'RetryDeliverySuccess',
      delivery: { id: state.failed },
    });
    const done = await eventually(
      () => as(alice.authorization, DELIVERY, { id: state.failed }),
      (body) => body.data?.delivery.status === 'SUCCEEDED',
    );
    expect(done.data?.delivery.attempts.map((a: any) => [a.number, a.statusCode, a.succeeded])).toEqual([
      [1, 500, false],
      [2, 200, true],
    ]);
    const sent = env.at('/hooks').filter((r) => r.headers['webhook-id'] === done.data?.delivery.webhookId);
    expect(sent).toHaveLength(2);

    const SET = 'mutation($id: ID!, $on: Boolean!) { setSubscriptionEnabled(id: $id, enabled: $on) { __typename } }';
    await as(alice.authorization, SET, { id: hooks, on: false });
    expect((await as(alice.authorization, RETRY, { id: state.failed })).data?.retryDelivery.__typename).toBe(
      'ConflictError',
    );
    await as(alice.authorization, SET, { id: hooks, on: true });
  });

  it("another member neither sees nor retries a member's deliveries; tokens need the scopes", async () => {
    expect((await as(bob.authorization, DELIVERY, { id: state.failed })).errors?.[0]?.extensions?.code).toBe(
      'NOT_FOUND',
    );
    expect(ids(await as(bob.authorization, DELIVERIES, { subscriptionId: hooks }))).toEqual([]);
    const own = await as(bob.authorization, DELIVERIES, { first: 100 });
    expect(own.data?.deliveries.edges.length).toBeGreaterThan(0);
    expect(ids(own)).not.toContain(state.failed);
    expect((await as(bob.authorization, RETRY, { id: state.failed })).data?.retryDelivery.__typename).toBe(
      'NotFoundError',
    );
    expect(ids(await as(admin, DELIVERIES, { subscriptionId: hooks }))).toContain(state.failed);

    const queuesOnly = await alice.token(['queues:read']);
    expect((await as(queuesOnly.authorization, DELIVERIES)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await as(queuesOnly.authorization, DELIVERY, { id: state.failed })).errors?.[0]?.extensions?.code).toBe(
      'FORBIDDEN',
    );
    const readOnly = await alice.token(['subscriptions:read']);
    expect(ids(await as(readOnly.authorization, DELIVERIES, { subscriptionId: hooks }))).toContain(state.failed);
    expect((await as(readOnly.authorization, RETRY, { id: state.failed })).data?.retryDelivery.__typename).toBe(
      'ForbiddenError',
    );
    const anonymous = await gql(env.server, DELIVERIES);
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const anonymousRetry = await gql(env.server, RETRY, { variables: { id: state.failed } });
    expect(anonymousRetry.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('deliveryUpdates streams each change of a delivery over graphql-ws, to its owner only', async () => {
    const mine = subscribeOverWebSocket(env.server.wsUrl, alice.authorization, UPDATES, { subscriptionId: hooks });
    const everything = subscribeOverWebSocket(env.server.wsUrl, bob.authorization, UPDATES);
    const published: string[] = [];
    try {
      // A subscription starts listening a moment after it is sent; publish until both streams have news.
      await eventually(
        async () => {
          const result = await publish(env.server, alice.authorization, {
            type: 'thing.happened',
            payload: { live: true },
          });
          published.push(result.event.id);
          await new Promise((resolve) => setTimeout(resolve, 300));
          return mine.received.length > 0 && everything.received.length > 0;
        },
        (ready) => ready,
      );
      const last = published.at(-1);
      const update = await eventually(
        async () => mine.received.map((d) => d.deliveryUpdates).find((d) => d.eventId === last),
        (found) => found !== undefined,
      );
      expect(update).toMatchObject({
        eventId: last,
        subscriptionId: hooks,
        status: 'SUCCEEDED',
        attempts: [{ statusCode: 200 }],
      });
      const delivery = await as(alice.authorization, DELIVERY, { id: update.id });
      expect(delivery.data?.delivery.status).toBe('SUCCEEDED');
      expect(mine.errors).toEqual([]);
      expect(everything.errors).toEqual([]);
      expect(new Set(mine.received.map((d) => d.deliveryUpdates.subscriptionId))).toEqual(new Set([hooks]));
      expect(new Set(everything.received.map((d) => d.deliveryUpdates.subscriptionId))).toEqual(new Set([bobs]));
      for (const d of mine.received) expect(published).toContain(d.deliveryUpdates.eventId);

      // A failure and then a retry: each update carries the attempts as they are at that moment.
      env.replies.set('/hooks', { status: 503 });
      const failing = (await publish(env.server, alice.authorization, { type: 'thing.happened', payload: { n: 3 } }))
        .event.id;
      const updatesOf = () => mine.received.map((d) => d.deliveryUpdates).filter((d) => d.eventId === failing);
      const [failed] = await eventually(
        async () => updatesOf(),
        (u) => u.some((d) => d.status === 'FAILED'),
      );
      env.replies.delete('/hooks');
      await as(alice.authorization, RETRY, { id: failed.id });
      const all = await eventually(
        async () => updatesOf(),
        (u) => u.some((d) => d.status === 'SUCCEEDED'),
      );
      // The retry itself is announced too (as pending, or already further on when it is read).
      const seen = all.map((d) => [d.status, d.attempts.map((a: { statusCode: number }) => a.statusCode)]);
      expect(seen[0]).toEqual(['FAILED', [503]]);
      expect(seen.at(-1)).toEqual(['SUCCEEDED', [503, 200]]);
    } finally {
      await mine.close();
      await everything.close();
    }
  });

  it("deliveryUpdates refuses another member's subscription, malformed ids and tokens without the scope", async () => {
    const queuesOnly = await alice.token(['queues:read']);
    for (const [authorization, variables, code] of [
      [bob.authorization, { subscriptionId: hooks }, 'NOT_FOUND'],
      [alice.authorization, { subscriptionId: MISSING }, 'NOT_FOUND'],
      [alice.authorization, { eventId: 'nope' }, 'BAD_USER_INPUT'],
      [queuesOnly.authorization, {}, 'FORBIDDEN'],
    ] as const) {
      await expectSubscriptionRefused(env.server.wsUrl, authorization, UPDATES, variables, code);
    }
  });
});
