import { SCOPES, scopesForRole } from '@switchboard/core';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Fixtures, walkSchema } from './graphql-probes.ts';
import { ADMIN, bearer, gql, startTestServer, type TestServer } from './harness.ts';
import { EXTREME_CURSORS, EXTREME_DATES, isServerFailure, mapBounded, NUL_STRING } from './hostile-values.ts';

let server: TestServer;
let authorization: string;
let fixtures: Fixtures;

async function must<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await gql(server, query, { authorization, variables });
  if (res.body.errors?.length || !res.body.data) throw new Error(`${query}: ${JSON.stringify(res.body)}`);
  return res.body.data as T;
}

async function createFixtures(): Promise<Fixtures> {
  const queue = await must(
    'mutation($i: QueueInput!) { createQueue(input: $i) { ... on CreateQueueSuccess { queue { id name } } } }',
    { i: { name: 'fixture-queue', verification: { method: 'NONE' } } },
  );
  await must('mutation { listen(client: "fixture-client", queue: "fixture-queue") { __typename } }');
  await must('mutation($i: EventTypeInput!) { createEventType(input: $i) { __typename } }', {
    i: { name: 'fixture.created' },
  });
  const member = await server.core.users.create(
    { user: (await server.core.users.findByUsername(ADMIN.username))!, via: 'password', scopes: SCOPES },
    { username: 'fixture-member', password: 'fixture-member-password', role: 'member' },
  );
  if (!member.ok) throw new Error(member.error.message);
  const token = await server.core.tokens.create(
    { user: member.value, via: 'password', scopes: scopesForRole('member') },
    { name: 'fixture', scopes: ['subscriptions:read'] },
  );
  if (!token.ok) throw new Error(token.error.message);
  const subscription = await must(
    'mutation($i: SubscriptionInput!) { createSubscription(input: $i) { ... on CreateSubscriptionSuccess { subscription { id } } } }',
    { i: { name: 'fixture-subscription', url: 'https://example.com/hook', eventTypes: ['fixture.created'] } },
  );
  const event = await must(
    'mutation($i: PublishEventInput!) { publishEvent(input: $i) { ... on PublishEventSuccess { event { id } } } }',
    { i: { type: 'fixture.created', payload: { n: 1 } } },
  );
  const job = await must(
    'mutation($i: JobInput!) { createJob(input: $i) { ... on CreateJobSuccess { job { id } } } }',
    { i: { url: 'https://example.com/job' } },
  );
  const deliveries = await must('{ deliveries(first: 1) { edges { node { id } } } }');
  return {
    queueId: queue.createQueue.queue.id,
    queueName: queue.createQueue.queue.name,
    clientName: 'fixture-client',
    eventTypeName: 'fixture.created',
    subscriptionId: subscription.createSubscription.subscription.id,
    eventId: event.publishEvent.event.id,
    jobId: job.createJob.job.id,
    deliveryId: deliveries.deliveries.edges[0].node.id,
    userId: member.value.id,
    tokenId: token.value.token.id,
  };
}

describe('every GraphQL argument refuses hostile values with a client error', () => {
  beforeAll(async () => {
    server = await startTestServer();
    const admin = await server.core.users.findByUsername(ADMIN.username);
    if (!admin) throw new Error('no admin');
    const created = await server.core.tokens.create(
      { user: admin, via: 'password', scopes: SCOPES },
      { name: 'hostile-walker', scopes: [...SCOPES] },
    );
    if (!created.ok) throw new Error(created.error.message);
    authorization = bearer(created.value.secret);
    fixtures = await createFixtures();
  });
  afterAll(async () => {
    await server?.close();
  });

  async function refusal(query: string, variables: Record<string, unknown> = {}) {
    const res = await gql(server, query, { authorization, variables });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
    expect(isServerFailure(res.status, res.body), JSON.stringify(res.body)).toBe(false);
    return res.body.errors?.[0];
  }

  it('finding 9: NUL in login, queue(name), events(type) and a description is BAD_USER_INPUT naming the argument', async () => {
    const login = await refusal('mutation($u: String!) { login(username: $u, password: "pw") { __typename } }', {
      u: NUL_STRING,
    });
    expect(login?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'username' });
    // Inline arguments are checked as variables are.
    const queue = await refusal('{ queue(name: "a\\u0000b") { id } }');
    expect(queue?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'name' });
    expect(queue?.message).toMatch(/NUL/);
    const events = await refusal('query($t: String) { events(type: $t, first: 1) { pageInfo { hasNextPage } } }', {
      t: NUL_STRING,
    });
    expect(events?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'type' });
    const description = await refusal('mutation($i: QueueInput!) { createQueue(input: $i) { __typename } }', {
      i: { name: 'nul-description', description: NUL_STRING, verification: { method: 'NONE' } },
    });
    expect(description?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.description' });
    expect((await must('{ queues { name } }')).queues.map((q: { name: string }) => q.name)).not.toContain(
      'nul-description',
    );
  });

  it('finding 9: NUL in a subscription or job header value is refused naming the header', async () => {
    const subscription = await refusal(
      'mutation($i: SubscriptionInput!) { createSubscription(input: $i) { __typename } }',
      {
        i: {
          name: 'nul-header',
          url: 'https://example.com/h',
          eventTypes: ['fixture.created'],
          headers: [{ name: 'X-A', value: NUL_STRING }],
        },
      },
    );
    expect(subscription?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.headers.0.value' });
    const job = await refusal('mutation($i: JobInput!) { createJob(input: $i) { __typename } }', {
      i: { url: 'https://example.com/j', headers: [{ name: 'X-A', value: NUL_STRING }] },
    });
    expect(job?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.headers.0.value' });
    // Core refuses it too, for callers that do not come through GraphQL.
    const admin = (await server.core.users.findByUsername(ADMIN.username))!;
    const direct = await server.core.jobs.create({ user: admin, via: 'password', scopes: SCOPES }, {
      url: 'https://example.com/j',
      headers: { 'X-A': NUL_STRING },
    } as never);
    expect(direct.ok ? null : direct.error.fields).toEqual([
      { path: 'headers.X-A', message: expect.stringMatching(/NUL/) },
    ]);
  });

  it('finding 9: a NUL in an event payload or a job body is kept, as they are stored as bytes', async () => {
    const published = await must('mutation($i: PublishEventInput!) { publishEvent(input: $i) { __typename } }', {
      i: { type: 'fixture.created', payload: { s: NUL_STRING } },
    });
    expect(published.publishEvent.__typename).toBe('PublishEventSuccess');
    const job = await must('mutation($i: JobInput!) { createJob(input: $i) { __typename } }', {
      i: { url: 'https://example.com/j', body: NUL_STRING },
    });
    expect(job.createJob.__typename).toBe('CreateJobSuccess');
  });

  it('finding 9: dates beyond the years 1 to 9999 are BAD_USER_INPUT naming the argument', async () => {
    for (const date of EXTREME_DATES) {
      const events = await refusal('query($s: DateTime) { events(since: $s, first: 1) { pageInfo { hasNextPage } } }', {
        s: date,
      });
      expect(events?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(events?.message).toMatch(/\$s.*between the years 1 and 9999/);
      const recover = await refusal(
        'mutation($id: ID!, $s: DateTime!) { recoverSubscriptionDeliveries(id: $id, since: $s) { __typename } }',
        { id: fixtures.subscriptionId, s: date },
      );
      expect(recover?.message).toMatch(/between the years 1 and 9999/);
      const inline = await refusal(`{ jobs(until: "${date}", first: 1) { pageInfo { hasNextPage } } }`);
      expect(inline?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(inline?.message).toMatch(/until/);
    }
    // Core holds the same bound for callers that bring a Date of their own (the command line).
    const admin = (await server.core.users.findByUsername(ADMIN.username))!;
    const token = await server.core.tokens.create(
      { user: admin, via: 'password', scopes: SCOPES },
      { name: 'far-future', scopes: ['events:publish'], expiresAt: new Date(8.64e15) },
    );
    expect(token.ok ? null : token.error.fields).toEqual([
      { path: 'expiresAt', message: expect.stringMatching(/9999/) },
    ]);
  });

  it('finding 9: a cursor whose time no Date or timestamptz holds is a bad cursor', async () => {
    for (const cursor of EXTREME_CURSORS) {
      for (const field of ['events', 'jobs']) {
        const error = await refusal(
          `query($c: String) { ${field}(after: $c, first: 1) { pageInfo { hasNextPage } } }`,
          { c: cursor },
        );
        expect(error?.extensions?.code, `${field} after ${cursor}`).toBe('BAD_USER_INPUT');
        expect(error?.message).toMatch(/cursor/);
      }
    }
    // A real cursor still pages.
    const first = await must('{ events(first: 1) { edges { cursor } } }');
    const next = await gql(server, 'query($c: String) { events(after: $c, first: 1) { pageInfo { hasNextPage } } }', {
      authorization,
      variables: { c: first.events.edges[0].cursor },
    });
    expect(next.body.errors).toBeUndefined();
  });

  it('finding 9: a graphql-ws subscription with a NUL argument is refused naming it', async () => {
    const errors = await new Promise<unknown>((resolve, reject) => {
      const client = createClient({
        url: server.wsUrl,
        retryAttempts: 0,
        webSocketImpl: WebSocket,
        connectionParams: { authorization },
      });
      client.subscribe(
        {
          query: 'subscription($q: String!) { queueMessages(queue: $q) { __typename } }',
          variables: { q: NUL_STRING },
        },
        {
          next: (value) => {
            void client.dispose();
            resolve(value.errors);
          },
          error: (error) => {
            void client.dispose();
            resolve(error);
          },
          complete: () => reject(new Error('completed without an answer')),
        },
      );
    });
    expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', field: 'queue' } })]);
  });

  it('walks every argument of every query and mutation: no INTERNAL_SERVER_ERROR, no 5xx', async () => {
    const probes = walkSchema(fixtures);
    expect(probes.length).toBeGreaterThan(200);
    const failures = await mapBounded(probes, 6, async (probe) => {
      const res = await gql(server, probe.query, { authorization, variables: probe.variables });
      if (!isServerFailure(res.status, res.body)) return null;
      return `${probe.label}: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
    });
    expect(failures.filter(Boolean)).toEqual([]);
  }, 600_000);
});
