import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_SUBSCRIPTION, eventually, startDeliveryServer } from './delivery-fixtures.ts';
import { ADMIN, basic, gql, startTestServer, type TestServer } from './harness.ts';
import { CREATE_JOB, JOB } from './job-fixtures.ts';
import { processDatabaseEnv, type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();
const admin = basic(ADMIN.username, ADMIN.password);

type Target = Pick<TestServer, 'url'>;

const CREATE_EVENT_TYPE = `mutation($input: EventTypeInput!) {
  createEventType(input: $input) { __typename ... on Error { message } }
}`;
const UPDATE_SUBSCRIPTION = `mutation($id: ID!, $input: SubscriptionInput!) {
  updateSubscription(id: $id, input: $input) {
    __typename ... on UpdateSubscriptionSuccess { subscription { rateLimitPerSecond } } ... on Error { message }
  }
}`;
const RECOVER = `mutation($id: ID!, $since: DateTime!) {
  recoverSubscriptionDeliveries(id: $id, since: $since) {
    __typename ... on RecoverSubscriptionDeliveriesSuccess { count } ... on Error { message }
  }
}`;
const DELIVERIES = `query($subscriptionId: ID!) {
  deliveries(subscriptionId: $subscriptionId, first: 20) {
    edges { node {
      id webhookId status attemptCount lastStatusCode lastError completedAt updatedAt
      attempts { number statusCode succeeded error }
    } }
  }
}`;

interface DeliveryView {
  id: string;
  webhookId: string;
  status: string;
  attemptCount: number;
  lastStatusCode: number | null;
  lastError: string | null;
  completedAt: string | null;
  updatedAt: string;
  attempts: Array<{ number: number; statusCode: number | null; succeeded: boolean; error: string | null }>;
}

/** Polls until `done` holds; the failure says what was awaited and what was last seen. */
async function until<T>(
  awaited: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  try {
    return await eventually(read, done, timeoutMs);
  } catch (error) {
    throw new Error(`waited ${timeoutMs / 1000} s for ${awaited}: ${(error as Error).message}`);
  }
}

/** Runs one GraphQL operation as the admin and answers `data`; fails the test on errors. */
async function adminGql(target: Target, query: string, variables: Record<string, unknown> = {}) {
  const res = await gql(target, query, { authorization: admin, variables });
  if (res.body.errors?.length || !res.body.data) throw new Error(`GraphQL failed: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

async function createEventType(target: Target, name: string): Promise<void> {
  const data = await adminGql(target, CREATE_EVENT_TYPE, { input: { name } });
  expect(data.createEventType.__typename).toBe('CreateEventTypeSuccess');
}

async function createSubscription(target: Target, input: Record<string, unknown>): Promise<string> {
  const data = await adminGql(target, CREATE_SUBSCRIPTION, { input });
  if (data.createSubscription.__typename !== 'CreateSubscriptionSuccess') {
    throw new Error(`not created: ${JSON.stringify(data.createSubscription)}`);
  }
  return data.createSubscription.subscription.id;
}

/** POST /events as the admin; answers the event's id. */
async function publishEvent(target: Target, type: string, payload: unknown): Promise<string> {
  const response = await fetch(`${target.url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: admin },
    body: JSON.stringify({ type, payload }),
  });
  const body = (await response.json()) as { id: string };
  expect(response.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

async function deliveriesOf(target: Target, subscriptionId: string): Promise<DeliveryView[]> {
  const data = await adminGql(target, DELIVERIES, { subscriptionId });
  return data.deliveries.edges.map((edge: { node: DeliveryView }) => edge.node);
}

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * The subscription's deliveries once there are `count` and none is still to be sent; each must
 * then have ended as `status`.
 */
async function settledDeliveries(
  target: Target,
  subscriptionId: string,
  count: number,
  status: string,
  timeoutMs = 20_000,
): Promise<DeliveryView[]> {
  const rows = await until(
    `${count} deliveries of subscription ${subscriptionId} to be done`,
    () => deliveriesOf(target, subscriptionId),
    (found) => found.length === count && found.every((row) => FINAL.includes(row.status)),
    timeoutMs,
  );
  expect(rows.map((row) => row.status)).toEqual(rows.map(() => status));
  return rows;
}

const OUTCOMES = ['succeeded', 'retrying', 'failed', 'deferred', 'skipped'] as const;
type Outcomes = Record<(typeof OUTCOMES)[number], number>;

/** `switchboard_delivery_attempts_total` by outcome, as GET /metrics reports it (0 when absent). */
async function attemptCounters(target: Target): Promise<Outcomes> {
  const response = await fetch(`${target.url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const counters = {} as Outcomes;
  for (const outcome of OUTCOMES) {
    const line = new RegExp(`^switchboard_delivery_attempts_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
    counters[outcome] = Number(line?.[1] ?? 0);
  }
  return counters;
}

const movedBy = (before: Outcomes, after: Outcomes): Outcomes =>
  Object.fromEntries(OUTCOMES.map((outcome) => [outcome, after[outcome] - before[outcome]])) as Outcomes;

/**
 * A receiver whose requests wait unanswered until `open()` is called; from then on, every
 * request (the held ones included) is answered 200 at once.
 */
async function startGatedReceiver(shouldHold: (index: number) => boolean = () => true) {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  const receiver = await startReceiver(async (_request, index) => {
    if (shouldHold(index)) await opened;
    return { status: 200 };
  });
  return { receiver, open };
}

/** The state letter of a process in /proc (`T`: stopped by a signal). */
function processState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/** Resolves with the exit code, or rejects when the process has not exited within `timeoutMs`. */
function exitWithin(server: ServerProcess, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`waited ${timeoutMs / 1000} s for the process to exit:\n${server.output().slice(-3000)}`)),
      timeoutMs,
    );
  });
  return Promise.race([server.exited, late]).finally(() => clearTimeout(timer));
}

describe('the outbound address guard resolves host names through DNS', () => {
  let receiver: TestReceiver;
  let guarded: TestServer;
  let allowing: TestServer;

  beforeAll(async () => {
    receiver = await startReceiver(() => ({ status: 200 }));
    // No DELIVERY_ALLOWED_NETWORKS: every loopback address is refused.
    guarded = await startTestServer();
    // Loopback in both families, whichever the system resolver answers for localhost.
    allowing = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128' } });
    for (const server of [guarded, allowing]) await createEventType(server, 'probe.sent');
  });
  afterAll(async () => {
    await guarded?.close();
    await allowing?.close();
    await receiver?.close();
  });

  it('refuses at attempt time a delivery and a job whose URL names localhost, which the system resolver turns into a loopback address, records the guard reason on the attempt and sends nothing (while the literal 127.0.0.1 is refused already when saved)', async () => {
    const literal = await gql(guarded, CREATE_SUBSCRIPTION, {
      authorization: admin,
      variables: { input: { name: 'literal', url: `${receiver.url}/literal`, eventTypes: ['probe.sent'] } },
    });
    expect(literal.body.data?.createSubscription).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: 'url', message: expect.stringContaining('127.0.0.1 is a loopback address') }],
    });

    // A name is not judged when saved: only its resolved addresses can be.
    const subscriptionId = await createSubscription(guarded, {
      name: 'by-name',
      url: `http://localhost:${receiver.port}/by-name`,
      eventTypes: ['probe.sent'],
      retryPolicy: { maxAttempts: 1 },
    });
    await publishEvent(guarded, 'probe.sent', { n: 1 });
    const [delivery] = await settledDeliveries(guarded, subscriptionId, 1, 'FAILED');
    expect(delivery?.attempts).toHaveLength(1);
    expect(delivery?.attempts[0]).toMatchObject({ number: 1, statusCode: null, succeeded: false });
    expect(delivery?.attempts[0]?.error).toMatch(
      /^refused: localhost resolves to (127\.\d+\.\d+\.\d+|::1) is a loopback address, which deliveries may not reach/,
    );

    const created = (
      await adminGql(guarded, CREATE_JOB, {
        input: { url: `http://localhost:${receiver.port}/job`, retryPolicy: { maxAttempts: 1 } },
      })
    ).createJob;
    expect(created.__typename).toBe('CreateJobSuccess');
    const job = await until(
      `job ${created.job.id} to fail`,
      async () => (await adminGql(guarded, JOB, { id: created.job.id })).job,
      (j) => j.state === 'FAILED',
    );
    expect(job.attempts).toHaveLength(1);
    expect(job.attempts[0]).toMatchObject({ number: 1, statusCode: null, succeeded: false });
    expect(job.attempts[0].error).toMatch(
      /^refused: localhost resolves to (127\.\d+\.\d+\.\d+|::1) is a loopback address/,
    );

    expect(receiver.requests.filter((r) => r.path === '/by-name' || r.path === '/job')).toEqual([]);
  }, 60_000);

  it('delivers through the same name to the same receiver once DELIVERY_ALLOWED_NETWORKS lists loopback', async () => {
    const subscriptionId = await createSubscription(allowing, {
      name: 'by-name',
      url: `http://localhost:${receiver.port}/allowed`,
      eventTypes: ['probe.sent'],
      retryPolicy: { maxAttempts: 1 },
    });
    await publishEvent(allowing, 'probe.sent', { n: 2 });
    const [delivery] = await settledDeliveries(allowing, subscriptionId, 1, 'SUCCEEDED');
    expect(delivery?.attempts).toMatchObject([{ number: 1, statusCode: 200, succeeded: true, error: null }]);
    const arrived = receiver.requests.filter((r) => r.path === '/allowed');
    expect(arrived.map((r) => r.headers['webhook-id'])).toEqual([delivery?.webhookId]);
  }, 60_000);
});

// A stalled worker and the one that takes over share one database: Postgres only.
describe.skipIf(kind !== 'postgres')('a worker stalled past its lease, on one Postgres with another worker', () => {
  let dir = '';
  let env: Record<string, string> = {};
  let dropDatabase: () => Promise<void> = async () => {};
  let gated: Awaited<ReturnType<typeof startGatedReceiver>>;
  let api: ServerProcess;
  const workers: ServerProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-stalled-'));
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    env = { ...database.env, ADMIN_PASSWORD: ADMIN.password, DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' };
    // Only the first request waits: it is the stalled worker's.
    gated = await startGatedReceiver((index) => index === 0);
    api = await startServerProcess({ ...env, ROLE: 'api' });
  }, 90_000);
  afterAll(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    await api?.kill('SIGKILL');
    await gated?.receiver.close();
    await dropDatabase();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a worker paused (SIGSTOP) mid-attempt past its lease is taken over by another worker that delivers once; when it resumes, its late outcome neither overwrites nor duplicates the other worker's success", async () => {
    const { receiver, open } = gated;
    await createEventType(api, 'stall.tick');
    const subscriptionId = await createSubscription(api, {
      name: 'stalled',
      url: `${receiver.url}/hook`,
      eventTypes: ['stall.tick'],
      // The lease is this timeout plus the worker's 10 s margin.
      timeoutMs: 1000,
      retryPolicy: { maxAttempts: 3 },
      disableAfterFailures: null,
    });

    const stalled = await startServerProcess({ ...env, ROLE: 'worker' });
    workers.push(stalled);
    const pid = stalled.child.pid as number;
    await publishEvent(api, 'stall.tick', { n: 1 });
    await receiver.waitFor(1, 30_000);
    expect((await attemptCounters(stalled)).succeeded).toBe(0);
    stalled.child.kill('SIGSTOP');
    await until(
      `worker ${pid} to be stopped`,
      async () => processState(pid),
      (state) => state === 'T',
    );
    // Answered now, while the worker that asked cannot read the answer.
    open();

    const takeover = await startServerProcess({ ...env, ROLE: 'worker' });
    workers.push(takeover);
    const [delivered] = await settledDeliveries(api, subscriptionId, 1, 'SUCCEEDED', 60_000);
    expect(receiver.requests).toHaveLength(2);
    expect(receiver.requests[1]?.headers['webhook-id']).toBe(receiver.requests[0]?.headers['webhook-id']);
    expect(delivered?.webhookId).toBe(receiver.requests[0]?.headers['webhook-id']);
    expect(delivered?.attemptCount).toBe(2);
    expect(delivered?.attempts).toMatchObject([
      { number: 1, statusCode: null, succeeded: false },
      { number: 2, statusCode: 200, succeeded: true, error: null },
    ]);
    expect(delivered?.attempts[0]?.error).toMatch(/^no outcome: the worker making this attempt stopped/);
    expect((await attemptCounters(takeover)).succeeded).toBe(1);

    stalled.child.kill('SIGCONT');
    // A worker counts an outcome only once the statement that records it has returned.
    const late = await until(
      'the resumed worker to have written the outcome of its late attempt',
      () => attemptCounters(stalled),
      (counters) => OUTCOMES.some((outcome) => counters[outcome] > 0),
    );
    expect(late.succeeded + late.retrying + late.failed).toBe(1);

    expect(await deliveriesOf(api, subscriptionId)).toEqual([delivered]);
    expect(receiver.requests).toHaveLength(2);
    expect((await fetch(`${stalled.url}/healthz`)).status).toBe(200);
  }, 180_000);
});

describe('SIGTERM while deliveries are in flight', () => {
  let dir = '';
  const TOTAL = 12;
  const CONCURRENCY = 4;
  let env: Record<string, string> = {};
  let dropDatabase: () => Promise<void> = async () => {};
  let gated: Awaited<ReturnType<typeof startGatedReceiver>>;
  const processes: ServerProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-sigterm-'));
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    env = {
      ...database.env,
      ADMIN_PASSWORD: ADMIN.password,
      ROLE: 'all',
      LOG_LEVEL: 'info',
      DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8',
      DELIVERY_CONCURRENCY: String(CONCURRENCY),
      SHUTDOWN_TIMEOUT_MS: '60000',
    };
    gated = await startGatedReceiver();
  });
  afterAll(async () => {
    for (const server of processes) await server.kill('SIGKILL');
    await gated?.receiver.close();
    await dropDatabase();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exits with status 0 after SIGTERM with requests in flight, records the in-flight ones and hands the rest back, so that a fresh process delivers every one exactly once and none is lost', async () => {
    const { receiver, open } = gated;
    const first = await startServerProcess(env);
    processes.push(first);
    await createEventType(first, 'shutdown.tick');
    const subscriptionId = await createSubscription(first, {
      name: 'held',
      url: `${receiver.url}/hook`,
      eventTypes: ['shutdown.tick'],
      maxInFlight: CONCURRENCY,
      disableAfterFailures: null,
    });
    for (let n = 0; n < TOTAL; n++) await publishEvent(first, 'shutdown.tick', { n });
    // Every slot of the worker holds an unanswered request.
    await receiver.waitFor(CONCURRENCY, 30_000);

    first.child.kill('SIGTERM');
    await until(
      'the server to log that it is shutting down',
      async () => first.output(),
      (output) => output.includes('"msg":"shutting down"'),
    );
    // The requests stay unanswered until the server has visibly gone on to close its listener.
    await until(
      'the stopping server to refuse /healthz',
      () =>
        fetch(`${first.url}/healthz`).then(
          (response) => response.status,
          () => 'refused',
        ),
      (status) => status !== 200,
    );
    expect(receiver.requests).toHaveLength(CONCURRENCY);
    open();
    expect(await exitWithin(first, 90_000)).toBe(0);
    expect(first.output()).toContain('"msg":"stopped"');
    const sentByFirst = receiver.requests.length;
    expect(sentByFirst).toBeGreaterThanOrEqual(CONCURRENCY);
    expect(sentByFirst).toBeLessThan(TOTAL);

    const second = await startServerProcess(env);
    processes.push(second);
    const rows = await settledDeliveries(second, subscriptionId, TOTAL, 'SUCCEEDED', 60_000);
    // One attempt each: the requests in flight were recorded before the exit, and the rest were
    // handed back untried rather than left leased (a take-over would add a "no outcome" attempt).
    for (const row of rows) {
      expect(row.attemptCount, row.id).toBe(1);
      expect(row.attempts, row.id).toMatchObject([{ number: 1, statusCode: 200, succeeded: true }]);
    }
    expect(receiver.requests).toHaveLength(TOTAL);
    const received = receiver.requests.map((r) => String(r.headers['webhook-id'])).sort();
    expect(received).toEqual(rows.map((row) => row.webhookId).sort());
    const payloads = receiver.requests.map((r) => JSON.parse(r.body.toString()).data.n as number).sort((a, b) => a - b);
    expect(payloads).toEqual(Array.from({ length: TOTAL }, (_, n) => n));
  }, 240_000);
});

describe('GET /metrics counts delivery attempts by outcome', () => {
  let env: Awaited<ReturnType<typeof startDeliveryServer>>;

  beforeAll(async () => {
    env = await startDeliveryServer();
    await createEventType(env.server, 'metered.failed');
    await createEventType(env.server, 'metered.retrying');
    await createEventType(env.server, 'metered.deferred');
  });
  afterAll(async () => {
    await env?.close();
  });

  it('moves switchboard_delivery_attempts_total by exactly the outcomes made: failed for a 500 with no attempts left, retrying for a 500 with one left, deferred for a delivery its rate limit puts off, succeeded for the rest, skipped not at all', async () => {
    const { server, receiver, replies } = env;
    const subscribe = (name: string, extra: Record<string, unknown>) =>
      createSubscription(server, {
        name,
        url: `${receiver.url}/${name}`,
        eventTypes: [`metered.${name}`],
        disableAfterFailures: null,
        ...extra,
      });
    const start = await attemptCounters(server);

    // Failed: a 500 with no attempts left.
    replies.set('/failed', { status: 500 });
    const failed = await subscribe('failed', { retryPolicy: { maxAttempts: 1 } });
    await publishEvent(server, 'metered.failed', {});
    await settledDeliveries(server, failed, 1, 'FAILED');
    const afterFailed = await attemptCounters(server);
    expect(movedBy(start, afterFailed)).toEqual({ succeeded: 0, retrying: 0, failed: 1, deferred: 0, skipped: 0 });

    // Retrying: a 500 with a second attempt due in an hour.
    replies.set('/retrying', { status: 500 });
    const retrying = await subscribe('retrying', { retryPolicy: { maxAttempts: 2, scheduleMs: [0, 3_600_000] } });
    await publishEvent(server, 'metered.retrying', {});
    const [pending] = await until(
      'the retrying delivery to have failed its first attempt',
      () => deliveriesOf(server, retrying),
      (rows) => rows.length === 1 && rows[0]?.status === 'PENDING' && rows[0]?.attemptCount === 1,
    );
    expect(pending?.lastStatusCode).toBe(500);
    const afterRetrying = await attemptCounters(server);
    expect(movedBy(afterFailed, afterRetrying)).toEqual({
      succeeded: 0,
      retrying: 1,
      failed: 0,
      deferred: 0,
      skipped: 0,
    });

    // Deferred: two deliveries fall due together (a recovery re-queues both in one statement) to
    // a subscription limited to one a second, so the worker sends one and puts the other off.
    replies.set('/deferred', { status: 500 });
    const since = new Date(Date.now() - 60_000).toISOString();
    const deferred = await subscribe('deferred', { retryPolicy: { maxAttempts: 1 } });
    await publishEvent(server, 'metered.deferred', { n: 1 });
    await publishEvent(server, 'metered.deferred', { n: 2 });
    await settledDeliveries(server, deferred, 2, 'FAILED');
    const beforeDeferral = await attemptCounters(server);
    expect(movedBy(afterRetrying, beforeDeferral)).toEqual({
      succeeded: 0,
      retrying: 0,
      failed: 2,
      deferred: 0,
      skipped: 0,
    });
    const updated = await adminGql(server, UPDATE_SUBSCRIPTION, {
      id: deferred,
      input: {
        name: 'deferred',
        url: `${receiver.url}/deferred`,
        eventTypes: ['metered.deferred'],
        rateLimitPerSecond: 1,
      },
    });
    expect(updated.updateSubscription).toMatchObject({ subscription: { rateLimitPerSecond: 1 } });
    replies.set('/deferred', { status: 200 });
    const recovered = await adminGql(server, RECOVER, { id: deferred, since });
    expect(recovered.recoverSubscriptionDeliveries).toEqual({
      __typename: 'RecoverSubscriptionDeliveriesSuccess',
      count: 2,
    });
    await settledDeliveries(server, deferred, 2, 'SUCCEEDED');
    expect(env.at('/deferred')).toHaveLength(4);
    const afterDeferred = await attemptCounters(server);
    expect(movedBy(beforeDeferral, afterDeferred)).toEqual({
      succeeded: 2,
      retrying: 0,
      failed: 0,
      deferred: 1,
      skipped: 0,
    });
    expect(movedBy(start, afterDeferred)).toEqual({ succeeded: 2, retrying: 1, failed: 3, deferred: 1, skipped: 0 });
  }, 60_000);
});
