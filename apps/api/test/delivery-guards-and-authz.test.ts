import type { SubscriptionId } from '@switchboard/core';
import { type Reply, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { subscriptions } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventType, createSubscription, eventually, publish } from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);

const FIELDS = `id userId name description url eventTypes filter headers { name value }
  signing { scheme header algorithm encoding prefix } timeoutMs retryPolicy { scheduleMs maxAttempts maxTotalMs }
  rateLimitPerSecond mode enabled disabledReason disabledAt consecutiveFailures failedAttempts
  disableAfterFailures disableAfterMs previousSecretExpiresAt managedBy updatedAt`;
const GET = `query($id: ID!) { subscription(id: $id) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: SubscriptionInput!) {
  updateSubscription(id: $id, input: $input) {
    __typename
    ... on UpdateSubscriptionSuccess { subscription { name url } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const SET_ENABLED = `mutation($id: ID!, $enabled: Boolean!) {
  setSubscriptionEnabled(id: $id, enabled: $enabled) {
    __typename ... on SetSubscriptionEnabledSuccess { subscription { enabled } } ... on Error { message }
  }
}`;
const ROTATE = `mutation($id: ID!) {
  rotateSubscriptionSecret(id: $id, graceSeconds: 60) {
    __typename ... on RotateSubscriptionSecretSuccess { secret } ... on Error { message }
  }
}`;
const RECOVER = `mutation($id: ID!, $since: DateTime!) {
  recoverSubscriptionDeliveries(id: $id, since: $since) {
    __typename ... on RecoverSubscriptionDeliveriesSuccess { count } ... on Error { message }
  }
}`;
const DELETE = `mutation($id: ID!) {
  deleteSubscription(id: $id) { __typename ... on DeleteSubscriptionSuccess { subscription { id } } ... on Error { message } }
}`;
const DELIVERIES = `query($id: ID!) { subscription(id: $id) {
  deliveries(first: 10) { edges { node { status lastStatusCode attempts { statusCode } } } }
} }`;

/**
 * The server may deliver to 127.0.0.1 only, where the receiver listens; every other private
 * address stays refused, as it would be on a host with no DELIVERY_ALLOWED_NETWORKS.
 */
async function startGuardedServer() {
  const server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.1/32' } });
  const replies = new Map<string, Reply>();
  const receiver: TestReceiver = await startReceiver((request) => replies.get(request.path) ?? { status: 200 });
  return { server, receiver, replies, at: (path: string) => receiver.requests.filter((r) => r.path === path) };
}

describe('delivery address guards and subscription authorization over GraphQL', () => {
  let env: Awaited<ReturnType<typeof startGuardedServer>>;
  let alice: Awaited<ReturnType<ReturnType<typeof factories>['user']>>;
  let bob: typeof alice;
  const server = (): TestServer => env.server;
  const input = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    url: `${env.receiver.url}/${name}`,
    eventTypes: ['probe.*'],
    ...extra,
  });
  const call = async (query: string, variables: Record<string, unknown>, authorization?: string) =>
    gql(server(), query, { authorization, variables });
  const result = async (query: string, variables: Record<string, unknown>, authorization?: string) =>
    Object.values((await call(query, variables, authorization)).body.data ?? {})[0] as Record<string, any>;
  /** Everything readable about a subscription, with its stored secrets, as an admin sees it. */
  const snapshot = async (id: string) => {
    const read = await call(GET, { id }, admin);
    const [row] = await server()
      .database.client.db.select({ secret: subscriptions.secret, previousSecret: subscriptions.previousSecret })
      .from(subscriptions)
      .where(eq(subscriptions.id, id as SubscriptionId));
    return { fields: read.body.data?.subscription, stored: row };
  };
  const deliveriesOf = async (id: string) =>
    (await call(DELIVERIES, { id }, admin)).body.data?.subscription.deliveries.edges.map(
      (e: { node: Record<string, unknown> }) => e.node,
    ) as Array<{ status: string; lastStatusCode: number | null; attempts: Array<{ statusCode: number | null }> }>;

  beforeAll(async () => {
    env = await startGuardedServer();
    const make = factories(env.server.core);
    alice = await make.user();
    bob = await make.user();
    await createEventType(env.server, 'probe.sent');
  });
  afterAll(async () => {
    await env.server.close();
    await env.receiver.close();
  });

  /** A subscription of its own event type, tried once, whose path answers `reply`. */
  const redirecting = async (name: string, reply: Reply) => {
    await createEventType(server(), `probe.${name}`);
    const { id } = await createSubscription(server(), alice.authorization, {
      ...input(name, { eventTypes: [`probe.${name}`] }),
      retryPolicy: { maxAttempts: 1 },
    });
    env.replies.set(`/${name}`, reply);
    await publish(server(), alice.authorization, { type: `probe.${name}`, payload: {} });
    // The attempt is written only once the 302 has been read, so a followed redirect would have
    // been made by the time the delivery is FAILED.
    return eventually(
      () => deliveriesOf(id),
      (list) => list.length === 1 && list[0]?.status === 'FAILED',
      20_000,
    );
  };

  it('does not follow a redirect: a 302 to a watched path is the failed attempt and that path is never asked', async () => {
    // The target is an address the server may reach and the test can watch.
    const settled = await redirecting('hop', { status: 302, headers: { location: `${env.receiver.url}/landing` } });
    expect(settled).toEqual([{ status: 'FAILED', lastStatusCode: 302, attempts: [{ statusCode: 302 }] }]);
    expect(env.at('/hop')).toHaveLength(1);
    expect(env.at('/landing')).toHaveLength(0);
  });

  it.each([
    ['metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['private', 'http://10.0.0.1/hook'],
  ])('does not follow a redirect to a %s address: the 302 is the failed attempt', async (name, location) => {
    const settled = await redirecting(name, { status: 302, headers: { location } });
    expect(settled).toEqual([{ status: 'FAILED', lastStatusCode: 302, attempts: [{ statusCode: 302 }] }]);
    expect(env.at(`/${name}`)).toHaveLength(1);
  });

  it.each([
    ['http://10.0.0.1/hook', '10.0.0.1 is a private address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a linkLocal address'],
    ['http://127.0.0.2/hook', '127.0.0.2 is a loopback address'],
  ])('refuses updating a subscription to %s with a problem on url, leaving it unchanged', async (url, reason) => {
    const name = `moved-${new URL(url).hostname.replaceAll('.', '-')}`;
    const { id } = await createSubscription(server(), alice.authorization, input(name));
    const before = await snapshot(id);
    const refused = await result(UPDATE, { id, input: { ...input(name), url } }, alice.authorization);
    expect(refused).toEqual({
      __typename: 'ValidationError',
      message: expect.any(String),
      fields: [{ path: 'url', message: expect.stringContaining(reason) }],
    });
    expect(await snapshot(id)).toEqual(before);
    expect(before.fields.url).toBe(`${env.receiver.url}/${name}`);
  });

  describe('who may change a subscription', () => {
    /** Alice's subscription with one failed delivery, so that a recovery has something to do. */
    let id: string;
    let since: string;

    beforeAll(async () => {
      await createEventType(server(), 'probe.owned');
      ({ id } = await createSubscription(server(), alice.authorization, {
        ...input('owned', { eventTypes: ['probe.owned'] }),
        retryPolicy: { maxAttempts: 1 },
      }));
      env.replies.set('/owned', { status: 500 });
      since = new Date(Date.now() - 60_000).toISOString();
      await publish(server(), alice.authorization, { type: 'probe.owned', payload: {} });
      await eventually(
        () => deliveriesOf(id),
        (list) => list.length === 1 && list[0]?.status === 'FAILED',
        20_000,
      );
    });

    const operations = () =>
      [
        ['updateSubscription', UPDATE, { id, input: input('hijacked') }],
        ['setSubscriptionEnabled', SET_ENABLED, { id, enabled: false }],
        ['rotateSubscriptionSecret', ROTATE, { id }],
        ['recoverSubscriptionDeliveries', RECOVER, { id, since }],
        ['deleteSubscription', DELETE, { id }],
      ] as const;

    /** Runs every operation as `authorization`, checks each refusal, and that nothing changed. */
    const expectAllRefused = async (
      authorization: string | undefined,
      refused: (response: Awaited<ReturnType<typeof call>>, operation: string) => void,
    ) => {
      const before = await snapshot(id);
      const deliveriesBefore = await deliveriesOf(id);
      expect(before.fields).toMatchObject({ name: 'owned', enabled: true, previousSecretExpiresAt: null });
      expect(deliveriesBefore).toEqual([{ status: 'FAILED', lastStatusCode: 500, attempts: [{ statusCode: 500 }] }]);
      for (const [operation, query, variables] of operations()) {
        refused(await call(query, variables, authorization), operation);
        expect(await snapshot(id), `${operation} left the subscription as it was`).toEqual(before);
        expect(await deliveriesOf(id), `${operation} left its deliveries as they were`).toEqual(deliveriesBefore);
      }
    };

    it('a token with only subscriptions:read is refused every change with ForbiddenError', async () => {
      const readOnly = await alice.token(['subscriptions:read']);
      // The token does work: it reads the very subscription it may not change.
      const read = await call(GET, { id }, readOnly.authorization);
      expect(read.body.data?.subscription.name).toBe('owned');
      await expectAllRefused(readOnly.authorization, (response, operation) => {
        expect(response.body.errors, operation).toBeUndefined();
        expect(response.body.data?.[operation], operation).toEqual({
          __typename: 'ForbiddenError',
          message: expect.stringContaining('subscriptions:write'),
        });
      });
    });

    it('an anonymous caller is refused every change with UNAUTHENTICATED', async () => {
      await expectAllRefused(undefined, (response, operation) => {
        expect(response.body.errors?.[0]?.extensions?.code, operation).toBe('UNAUTHENTICATED');
        expect(response.body.data ?? null, operation).toBeNull();
      });
    });

    it("another member is told every change of a member's subscription is NotFoundError", async () => {
      // Bob can change his own subscriptions, so what stops him is whose this one is.
      const own = await createSubscription(server(), bob.authorization, input('bobs'));
      expect((await result(SET_ENABLED, { id: own.id, enabled: false }, bob.authorization)).__typename).toBe(
        'SetSubscriptionEnabledSuccess',
      );
      await expectAllRefused(bob.authorization, (response, operation) => {
        expect(response.body.errors, operation).toBeUndefined();
        expect(response.body.data?.[operation], operation).toEqual({
          __typename: 'NotFoundError',
          message: expect.any(String),
        });
      });
    });

    it("an admin may update, disable, enable, rotate, recover and delete another user's subscription", async () => {
      const before = await snapshot(id);
      const updated = await result(UPDATE, { id, input: input('owned', { description: 'by admin' }) }, admin);
      expect(updated).toEqual({
        __typename: 'UpdateSubscriptionSuccess',
        subscription: { name: 'owned', url: `${env.receiver.url}/owned` },
      });
      expect((await snapshot(id)).fields).toMatchObject({ description: 'by admin', userId: alice.user.id });

      const disabled = await result(SET_ENABLED, { id, enabled: false }, admin);
      expect(disabled).toEqual({ __typename: 'SetSubscriptionEnabledSuccess', subscription: { enabled: false } });
      const enabled = await result(SET_ENABLED, { id, enabled: true }, admin);
      expect(enabled).toEqual({ __typename: 'SetSubscriptionEnabledSuccess', subscription: { enabled: true } });

      const rotated = await result(ROTATE, { id }, admin);
      expect(rotated).toEqual({ __typename: 'RotateSubscriptionSecretSuccess', secret: expect.any(String) });
      const afterRotation = await snapshot(id);
      expect(afterRotation.stored).toEqual({ secret: rotated.secret, previousSecret: before.stored?.secret });

      env.replies.set('/owned', { status: 200 });
      const recovered = await result(RECOVER, { id, since }, admin);
      expect(recovered).toEqual({ __typename: 'RecoverSubscriptionDeliveriesSuccess', count: 1 });
      await eventually(
        () => deliveriesOf(id),
        (list) => list[0]?.status === 'SUCCEEDED',
        20_000,
      );

      const deleted = await result(DELETE, { id }, admin);
      expect(deleted).toEqual({ __typename: 'DeleteSubscriptionSuccess', subscription: { id } });
      const gone = await call(GET, { id }, alice.authorization);
      expect(gone.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    });
  });
});
