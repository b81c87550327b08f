import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CREATE_SUBSCRIPTION,
  createEventType,
  createSubscription,
  eventually,
  publish,
  startDeliveryServer,
} from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const FIELDS = `id userId name description url eventTypes filter headers { name value }
  signing { scheme header algorithm encoding prefix } timeoutMs retryPolicy { scheduleMs maxAttempts maxTotalMs }
  rateLimitPerSecond mode enabled disabledReason disabledAt consecutiveFailures disableAfterFailures disableAfterMs
  previousSecretExpiresAt managedBy user { username }`;
const GET = `query($id: ID!) { subscription(id: $id) { ${FIELDS} } }`;
const UPDATE = `mutation($id: ID!, $input: SubscriptionInput!) {
  updateSubscription(id: $id, input: $input) {
    __typename
    ... on UpdateSubscriptionSuccess { subscription { name url timeoutMs mode headers { name } } }
    ... on ValidationError { fields { path } }
  }
}`;
const SET_ENABLED = `mutation($id: ID!, $enabled: Boolean!, $reason: String) {
  setSubscriptionEnabled(id: $id, enabled: $enabled, reason: $reason) {
    __typename ... on SetSubscriptionEnabledSuccess { subscription { enabled disabledReason disabledAt } }
  }
}`;
const ROTATE = `mutation($id: ID!, $grace: Int) {
  rotateSubscriptionSecret(id: $id, graceSeconds: $grace) {
    __typename
    ... on RotateSubscriptionSecretSuccess { secret subscription { previousSecretExpiresAt } }
    ... on Error { message }
  }
}`;
const RECOVER = `mutation($id: ID!, $since: DateTime!) {
  recoverSubscriptionDeliveries(id: $id, since: $since) {
    __typename ... on RecoverSubscriptionDeliveriesSuccess { count } ... on Error { message }
  }
}`;
const DELETE = 'mutation($id: ID!) { deleteSubscription(id: $id) { __typename } }';

describe('subscriptions over GraphQL', () => {
  let env: Awaited<ReturnType<typeof startDeliveryServer>>;
  let alice: Awaited<ReturnType<ReturnType<typeof factories>['user']>>;
  let bob: typeof alice;
  const input = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    url: `${env.receiver.url}/${name}`,
    eventTypes: ['invoice.*'],
    ...extra,
  });
  const mutate = async (query: string, variables: Record<string, unknown>, authorization = alice.authorization) =>
    Object.values((await gql(server(), query, { authorization, variables })).body.data ?? {})[0] as Record<string, any>;
  const server = () => env.server;

  beforeAll(async () => {
    env = await startDeliveryServer();
    const make = factories(env.server.core);
    alice = await make.user();
    bob = await make.user();
    await createEventType(env.server, 'invoice.paid');
  });
  afterAll(async () => {
    await env.close();
  });

  it('a member creates a subscription; its secret is shown once and every other field is readable', async () => {
    const created = await gql(server(), CREATE_SUBSCRIPTION, {
      authorization: alice.authorization,
      variables: {
        input: input('billing', {
          filter: { 'data.amount': { $gte: 100 } },
          headers: [{ name: 'X-Team', value: 'b' }],
        }),
      },
    });
    const result = created.body.data?.createSubscription;
    expect(result.__typename).toBe('CreateSubscriptionSuccess');
    expect(result.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const read = await gql(server(), GET, {
      authorization: alice.authorization,
      variables: { id: result.subscription.id },
    });
    expect(read.body.data?.subscription).toEqual({
      id: result.subscription.id,
      userId: alice.user.id,
      name: 'billing',
      description: null,
      url: `${env.receiver.url}/billing`,
      eventTypes: ['invoice.*'],
      filter: { 'data.amount': { $gte: 100 } },
      headers: [{ name: 'X-Team', value: 'b' }],
      signing: { scheme: 'STANDARD_WEBHOOKS', header: null, algorithm: null, encoding: null, prefix: null },
      timeoutMs: 15_000,
      retryPolicy: { scheduleMs: null, maxAttempts: null, maxTotalMs: null },
      rateLimitPerSecond: null,
      mode: 'ASYNC',
      enabled: true,
      disabledReason: null,
      disabledAt: null,
      consecutiveFailures: 0,
      disableAfterFailures: 100,
      disableAfterMs: 432_000_000,
      previousSecretExpiresAt: null,
      managedBy: 'api',
      user: { username: alice.user.username },
    });
    const listed = await gql(server(), `{ subscriptions { ${FIELDS} } }`, { authorization: alice.authorization });
    expect(listed.body.data?.subscriptions.map((s: { name: string }) => s.name)).toEqual(['billing']);
    expect(JSON.stringify(listed.body)).not.toContain(result.secret);
  });

  it('takes an HMAC signature, its own secret, a retry policy and thresholds beyond 32 bits', async () => {
    const { id, secret } = await createSubscription(server(), alice.authorization, {
      ...input('servo'),
      signing: { scheme: 'HMAC', header: 'X-Servo-Signature', algorithm: 'sha1', prefix: 'sha1=' },
      secret: 'a-secret-of-20-chars',
      retryPolicy: { scheduleMs: [0, 1000], maxAttempts: 3, maxTotalMs: 30 * 86_400_000 },
      mode: 'BLOCKING',
      disableAfterFailures: null,
      disableAfterMs: 365 * 86_400_000,
    });
    expect(secret).toBe('a-secret-of-20-chars');
    const read = (await gql(server(), GET, { authorization: alice.authorization, variables: { id } })).body.data
      ?.subscription;
    expect(read).toMatchObject({
      signing: { scheme: 'HMAC', header: 'X-Servo-Signature', algorithm: 'sha1', encoding: 'hex', prefix: 'sha1=' },
      retryPolicy: { scheduleMs: [0, 1000], maxAttempts: 3, maxTotalMs: 2_592_000_000 },
      mode: 'BLOCKING',
      disableAfterFailures: null,
      disableAfterMs: 31_536_000_000,
    });
  });

  it('refuses invalid input with a problem per field, and a taken name, storing nothing', async () => {
    const bad = await mutate(CREATE_SUBSCRIPTION, {
      input: {
        name: 'bad',
        url: 'ftp://user:pw@example.com/x',
        eventTypes: ['Invoice Paid'],
        headers: [{ name: 'webhook-signature', value: 'forged' }],
        timeoutMs: 5,
        secret: 'short',
      },
    });
    expect(bad.__typename).toBe('ValidationError');
    expect(bad.fields.map((f: { path: string }) => f.path).sort()).toEqual([
      'eventTypes.0',
      'headers',
      'timeoutMs',
      'url',
    ]);
    const privateUrl = await mutate(CREATE_SUBSCRIPTION, { input: { ...input('private'), url: 'http://10.1.2.3/x' } });
    expect(privateUrl.fields).toEqual([{ path: 'url', message: expect.stringContaining('10.1.2.3') }]);
    const shortSecret = await mutate(CREATE_SUBSCRIPTION, { input: { ...input('short'), secret: 'short' } });
    expect(shortSecret.fields).toEqual([{ path: 'secret', message: 'must be at least 16 characters' }]);
    const taken = await mutate(CREATE_SUBSCRIPTION, { input: input('billing') });
    expect(taken.__typename).toBe('ConflictError');
    const names = await gql(server(), '{ subscriptions { name } }', { authorization: alice.authorization });
    expect(names.body.data?.subscriptions.map((s: { name: string }) => s.name)).toEqual(['billing', 'servo']);
  });

  it('updates replace the definition; a taken name conflicts; unknown ids are not found, malformed ones refused', async () => {
    const { id } = await createSubscription(server(), alice.authorization, input('editable'));
    const updated = await mutate(UPDATE, { id, input: { ...input('edited'), timeoutMs: 2000 } });
    expect(updated).toEqual({
      __typename: 'UpdateSubscriptionSuccess',
      subscription: { name: 'edited', url: `${env.receiver.url}/edited`, timeoutMs: 2000, mode: 'ASYNC', headers: [] },
    });
    expect((await mutate(UPDATE, { id, input: input('billing') })).__typename).toBe('ConflictError');
    expect((await mutate(UPDATE, { id, input: { ...input('edited'), eventTypes: [] } })).fields).toEqual([
      { path: 'eventTypes' },
    ]);
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await mutate(UPDATE, { id: missing, input: input('x') })).__typename).toBe('NotFoundError');
    const malformed = await gql(server(), UPDATE, {
      authorization: alice.authorization,
      variables: { id: 'not-an-id', input: input('x') },
    });
    expect(malformed.status).toBe(200);
    expect(malformed.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const read = await gql(server(), GET, { authorization: alice.authorization, variables: { id: 'nope' } });
    expect(read.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const unknown = await gql(server(), GET, { authorization: alice.authorization, variables: { id: missing } });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('disables with a reason, enables again, rotates the secret with a grace period, and deletes', async () => {
    const { id, secret } = await createSubscription(server(), alice.authorization, input('lifecycle'));
    const disabled = await mutate(SET_ENABLED, { id, enabled: false, reason: 'maintenance' });
    expect(disabled.subscription).toEqual({
      enabled: false,
      disabledReason: 'maintenance',
      disabledAt: expect.any(String),
    });
    const enabled = await mutate(SET_ENABLED, { id, enabled: true });
    expect(enabled.subscription).toEqual({ enabled: true, disabledReason: null, disabledAt: null });

    const before = Date.now();
    const rotated = await mutate(ROTATE, { id, grace: 3600 });
    expect(rotated.__typename).toBe('RotateSubscriptionSecretSuccess');
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    const expires = Date.parse(rotated.subscription.previousSecretExpiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
    const tooLong = await mutate(ROTATE, { id, grace: 31 * 86_400 });
    expect(tooLong).toEqual({ __typename: 'ValidationError', message: expect.stringContaining('graceSeconds') });

    expect((await mutate(DELETE, { id })).__typename).toBe('DeleteSubscriptionSuccess');
    const gone = await gql(server(), GET, { authorization: alice.authorization, variables: { id } });
    expect(gone.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await mutate(DELETE, { id })).__typename).toBe('NotFoundError');
  });

  it('counts deliveries by state, pages them, and recovers failed ones since a time', async () => {
    const { id } = await createSubscription(server(), alice.authorization, {
      ...input('flaky', { eventTypes: ['invoice.paid'] }),
      retryPolicy: { maxAttempts: 1 },
    });
    env.replies.set('/flaky', { status: 500, body: 'boom' });
    const startedAt = new Date().toISOString();
    for (const n of [1, 2])
      expect(
        (await publish(server(), alice.authorization, { type: 'invoice.paid', payload: { n } })).deliveryCount,
      ).toBeGreaterThanOrEqual(1);
    const STATS = `query($id: ID!) { subscription(id: $id) { stats { pending delivering succeeded failed cancelled }
      deliveries(first: 1) { pageInfo { hasNextPage } edges { node { status attempts { statusCode responseBody } } } } } }`;
    const read = () => gql(server(), STATS, { authorization: alice.authorization, variables: { id } });
    // Stats and the page are read at slightly different moments: wait until both have settled.
    const settled = (r: Awaited<ReturnType<typeof read>>, status: string, count: number) =>
      r.body.data?.subscription.stats[status] === count &&
      r.body.data?.subscription.deliveries.edges[0]?.node.status === status.toUpperCase();
    const failed = await eventually(read, (r) => settled(r, 'failed', 2));
    expect(failed.body.data?.subscription).toEqual({
      stats: { pending: 0, delivering: 0, succeeded: 0, failed: 2, cancelled: 0 },
      deliveries: {
        pageInfo: { hasNextPage: true },
        edges: [{ node: { status: 'FAILED', attempts: [{ statusCode: 500, responseBody: 'boom' }] } }],
      },
    });

    env.replies.delete('/flaky');
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await mutate(RECOVER, { id, since: future })).toEqual({
      __typename: 'RecoverSubscriptionDeliveriesSuccess',
      count: 0,
    });
    expect(await mutate(RECOVER, { id, since: startedAt })).toEqual({
      __typename: 'RecoverSubscriptionDeliveriesSuccess',
      count: 2,
    });
    const recovered = await eventually(read, (r) => settled(r, 'succeeded', 2));
    expect(recovered.body.data?.subscription.stats.failed).toBe(0);
    expect(env.at('/flaky')).toHaveLength(4);

    await mutate(SET_ENABLED, { id, enabled: false });
    expect((await mutate(RECOVER, { id, since: startedAt })).__typename).toBe('ConflictError');
  });

  it("another member can neither see nor change a member's subscription; admins see everyone's", async () => {
    const { id } = await createSubscription(server(), alice.authorization, input('private-one'));
    const asBob = (query: string, variables: Record<string, unknown> = { id }) =>
      mutate(query, variables, bob.authorization);
    const peek = await gql(server(), GET, { authorization: bob.authorization, variables: { id } });
    expect(peek.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const list = await gql(server(), '{ subscriptions { id } }', { authorization: bob.authorization });
    expect(list.body.data?.subscriptions).toEqual([]);
    expect((await asBob(UPDATE, { id, input: input('hijack') })).__typename).toBe('NotFoundError');
    expect((await asBob(SET_ENABLED, { id, enabled: false })).__typename).toBe('NotFoundError');
    expect((await asBob(ROTATE)).__typename).toBe('NotFoundError');
    expect((await asBob(RECOVER, { id, since: new Date(0).toISOString() })).__typename).toBe('NotFoundError');
    expect((await asBob(DELETE)).__typename).toBe('NotFoundError');
    const forBob = await asBob(CREATE_SUBSCRIPTION, { input: input('planted'), userId: alice.user.id });
    expect(forBob.__typename).toBe('ForbiddenError');
    const all = await gql(server(), '{ subscriptions(allUsers: true) { id } }', { authorization: bob.authorization });
    expect(all.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const still = await gql(server(), GET, { authorization: alice.authorization, variables: { id } });
    expect(still.body.data?.subscription).toMatchObject({ name: 'private-one', enabled: true });
    const seen = await gql(server(), '{ subscriptions(allUsers: true) { id } mine: subscriptions { id } }', {
      authorization: admin,
    });
    expect(seen.body.data?.subscriptions.map((s: { id: string }) => s.id)).toContain(id);
    expect(seen.body.data?.mine).toEqual([]);
    const forAlice = await mutate(CREATE_SUBSCRIPTION, { input: input('by-admin'), userId: alice.user.id }, admin);
    expect(forAlice.subscription.userId).toBe(alice.user.id);
  });

  it('tokens need the subscriptions scopes; requests without credentials are refused', async () => {
    const queuesOnly = await alice.token(['queues:read']);
    const readOnly = await alice.token(['subscriptions:read']);
    const refused = await gql(server(), '{ subscriptions { id } }', { authorization: queuesOnly.authorization });
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const read = await gql(server(), '{ subscriptions { name } }', { authorization: readOnly.authorization });
    expect(read.body.data?.subscriptions.length).toBeGreaterThan(0);
    for (const token of [queuesOnly, readOnly]) {
      const created = await mutate(CREATE_SUBSCRIPTION, { input: input('by-token') }, token.authorization);
      expect(created.__typename).toBe('ForbiddenError');
    }
    const anonymous = await gql(server(), '{ subscriptions { id } }');
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const anonymousCreate = await gql(server(), CREATE_SUBSCRIPTION, { variables: { input: input('anon') } });
    expect(anonymousCreate.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const names = await gql(server(), '{ subscriptions { name } }', { authorization: alice.authorization });
    expect(names.body.data?.subscriptions.map((s: { name: string }) => s.name)).not.toContain('by-token');
  });
});
