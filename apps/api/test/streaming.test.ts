import { systemPrincipal } from '@switchboard/core';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer } from './harness.ts';
import { type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();
const admin = basic(ADMIN.username, ADMIN.password);

interface Received {
  seqs: number[];
  bodies: string[];
  refreshes: number;
  errors: unknown[];
}

const STREAM = `subscription($queue: String!, $after: Int) {
  queueMessages(queue: $queue, after: $after) {
    __typename
    ... on Message { seq body }
    ... on RefreshSignal { currentSeq }
  }
}`;

/** Subscribes and collects until `until` holds; the socket stays open meanwhile. */
function subscribe(wsUrl: string, authorization: string, query: string, variables: Record<string, unknown>) {
  const client: Client = createClient({
    url: wsUrl,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { authorization },
    webSocketImpl: WebSocket,
  });
  const received: Received = { seqs: [], bodies: [], refreshes: 0, errors: [] };
  let notify: () => void = () => {};
  // Whatever is still in flight when the subscriber hangs up is not "received": a resuming
  // subscriber only knows the seqs it kept.
  let closed = false;
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (value) => {
        if (closed) return;
        const event = (value.data as Record<string, { __typename: string; seq?: number; body?: string }> | null)
          ? Object.values(value.data as Record<string, { __typename: string; seq?: number; body?: string }>)[0]
          : undefined;
        if (value.errors) received.errors.push(value.errors);
        if (event?.__typename === 'Message') {
          received.seqs.push(event.seq as number);
          received.bodies.push(event.body as string);
        } else if (event?.__typename === 'RefreshSignal') {
          received.refreshes += 1;
        }
        notify();
      },
      error: (error) => {
        received.errors.push(error);
        notify();
      },
      complete: () => notify(),
    },
  );
  return {
    received,
    async until(condition: () => boolean, awaited: string, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline) {
          throw new Error(
            `stream never got ${awaited} in ${timeoutMs} ms: ${received.seqs.length} messages, last seq ${received.seqs.at(-1)}, errors ${JSON.stringify(received.errors)}`,
          );
        }
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
    async close() {
      closed = true;
      dispose();
      await client.dispose();
    },
  };
}

async function ingest(url: string, queue: string, body: string): Promise<number> {
  const response = await fetch(`${url}/q/${queue}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/plain' },
  });
  if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: number }).id;
}

const expectContiguous = (seqs: number[], from: number, to: number) =>
  expect(seqs).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));

const wsUrlOf = (httpUrl: string) => `${httpUrl.replace(/^http/, 'ws')}/graphql`;

/** `writers` concurrent posters of `each` messages each, labelled so every body is unique. */
const ingestConcurrently = (url: string, queue: string, label: string, writers: number, each: number) =>
  Promise.all(
    Array.from({ length: writers }, (_, w) =>
      (async () => {
        for (let i = 0; i < each; i++) await ingest(url, queue, `${label} ${w}.${i}`);
      })(),
    ),
  );

/**
 * A subscriber that hangs up part-way and resumes with the cursor of the last message it received.
 * The queue holds `stored` messages when this starts. The first subscription starts after seq 1
 * and is given (`firstIngestUrl`) live messages until it hangs up; more arrive while nobody
 * listens; the second subscription (on `secondWsUrl`) must get that backlog, then messages posted
 * through `secondIngestUrl` as it starts (some land while it replays the backlog) and one posted
 * once it has caught up, with no gap and no duplicate across both subscriptions.
 */
async function hangUpAndResume(options: {
  queue: string;
  stored: number;
  firstWsUrl: string;
  firstIngestUrl: string;
  secondWsUrl: string;
  secondIngestUrl: string;
}) {
  const { queue, stored } = options;
  const first = subscribe(options.firstWsUrl, admin, STREAM, { queue, after: 1 });
  const during = ingestConcurrently(options.firstIngestUrl, queue, 'during', 4, 25);
  await first.until(() => first.received.seqs.length >= 40, 'the first 40 messages');
  await first.close();
  await during;
  const cursor = first.received.seqs.at(-1) as number;
  expect(first.received.errors).toEqual([]);
  expectContiguous(first.received.seqs, 2, cursor);

  // Stored while nobody listens: at least this much backlog waits for the resumed subscription.
  for (let i = 0; i < 20; i++) await ingest(options.firstIngestUrl, queue, `away ${i}`);
  const backlogEnd = stored + 100 + 20;
  expect(cursor).toBeLessThan(backlogEnd);

  const second = subscribe(options.secondWsUrl, admin, STREAM, { queue, after: cursor });
  await ingestConcurrently(options.secondIngestUrl, queue, 'live', 4, 25);
  const liveEnd = backlogEnd + 100;
  await second.until(() => second.received.seqs.length >= liveEnd - cursor, `every message up to seq ${liveEnd}`);
  // Messages arrive in seq order: once this one is in, any duplicate or stray would be too.
  const end = await ingest(options.secondIngestUrl, queue, 'end');
  await second.until(() => second.received.bodies.includes('end'), 'the closing message');
  await second.close();

  expect(second.received.errors).toEqual([]);
  expectContiguous(second.received.seqs, cursor + 1, end);
  // The backlog comes first: everything stored before the resumption, in order, then the live ones.
  expect(second.received.bodies.slice(0, backlogEnd - cursor).filter((b) => b.startsWith('live'))).toEqual([]);
  expect(second.received.bodies.slice(backlogEnd - cursor, -1).every((b) => b.startsWith('live'))).toBe(true);
  expect(new Set([...first.received.bodies, ...second.received.bodies]).size).toBe(end - 1);
}

describe('live streaming of a queue over graphql-ws', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('with a cursor: the backlog after it, then live messages, with no gap and no duplicate', async () => {
    const created = await server.core.queues.create(systemPrincipal, { name: 'stream-one' });
    expect(created.ok).toBe(true);
    for (let i = 1; i <= 30; i++) await ingest(server.url, 'stream-one', `early ${i}`);

    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'stream-one', after: 10 });
    await ingestConcurrently(server.url, 'stream-one', 'live', 4, 25);
    await stream.until(() => stream.received.seqs.length >= 120, 'seqs 11 to 130');
    // Messages arrive in seq order: once this later one is in, any duplicate would be too.
    const end = await ingest(server.url, 'stream-one', 'end');
    await stream.until(() => stream.received.bodies.includes('end'), 'the closing message');
    await stream.close();

    expect(stream.received.errors).toEqual([]);
    expectContiguous(stream.received.seqs, 11, end);
    expect(end).toBe(131);
    expect(stream.received.bodies.slice(0, 2)).toEqual(['early 11', 'early 12']);
  });

  it('resumes after a hang-up from the last message received: the backlog after it, then live ones, no gap, no duplicate', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-resume' });
    for (let i = 1; i <= 21; i++) await ingest(server.url, 'stream-resume', `before ${i}`);
    await hangUpAndResume({
      queue: 'stream-resume',
      stored: 21,
      firstWsUrl: server.wsUrl,
      firstIngestUrl: server.url,
      secondWsUrl: server.wsUrl,
      secondIngestUrl: server.url,
    });
  });

  it('without a cursor: only messages stored after it subscribed', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-two' });
    for (let i = 1; i <= 5; i++) await ingest(server.url, 'stream-two', `old ${i}`);
    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'stream-two' });
    // When the subscription takes its starting point cannot be seen from outside; posting until
    // one arrives shows it has, and nothing stored before it may come first.
    const sent: string[] = [];
    const deadline = Date.now() + 20_000;
    while (stream.received.seqs.length === 0) {
      if (Date.now() > deadline) throw new Error(`no new message arrived in 20 s after ${sent.length} posts`);
      sent.push(`new ${sent.length + 1}`);
      await ingest(server.url, 'stream-two', sent.at(-1) as string);
      await new Promise((r) => setTimeout(r, 100));
    }
    // A later message: once it is in, anything else the stream would send is in too.
    sent.push('end');
    const end = await ingest(server.url, 'stream-two', 'end');
    await stream.until(() => stream.received.bodies.includes('end'), 'the closing message');
    await stream.close();

    expect(stream.received.errors).toEqual([]);
    const first = stream.received.seqs[0] as number;
    expect(first).toBeGreaterThan(5);
    expectContiguous(stream.received.seqs, first, end);
    expect(stream.received.bodies).toEqual(sent.slice(sent.length - stream.received.bodies.length));
  });

  it('a subscriber behind the queue limits gets the refresh signal, then continues', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-small', maxMessageCount: 5 });
    for (let i = 1; i <= 12; i++) await ingest(server.url, 'stream-small', `m ${i}`);
    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'stream-small', after: 0 });
    await stream.until(() => stream.received.refreshes >= 1, 'a refresh signal');
    await ingest(server.url, 'stream-small', 'after refresh');
    await stream.until(() => stream.received.bodies.includes('after refresh'), 'the message after the refresh');
    await stream.close();
    expect(stream.received.refreshes).toBe(1);
    expect(stream.received.seqs).toEqual([13]);
  });

  it('refuses a queue the member may not listen to, and an unknown queue, alike', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-private' });
    await ingest(server.url, 'stream-private', 'secret');
    const member = await factories(server.core).user();
    for (const [who, authorization, queue] of [
      ['a member not listed on the queue', member.authorization, 'stream-private'],
      ['a member, for an unknown queue', member.authorization, 'stream-no-such-queue'],
      ['an admin, for an unknown queue', admin, 'stream-no-such-queue'],
    ] as const) {
      const refused = subscribe(server.wsUrl, authorization, STREAM, { queue, after: 0 });
      await refused.until(() => refused.received.errors.length > 0, `the refusal of ${who}`);
      await refused.close();
      // The same answer either way, so that the refusal does not reveal which private queues exist.
      expect(JSON.stringify(refused.received.errors), who).toContain(`No queue named \\"${queue}\\"`);
      expect(refused.received.seqs, who).toEqual([]);
    }
  });

  it("streams a client's queue from the client's cursor", async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-client' });
    const listened = await gql(server, 'mutation { listen(client: "tail", queue: "stream-client") { __typename } }', {
      authorization: admin,
    });
    expect(listened.body.data?.listen.__typename).toBe('ListenSuccess');
    await ingest(server.url, 'stream-client', 'one');
    await ingest(server.url, 'stream-client', 'two');
    const stream = subscribe(
      server.wsUrl,
      admin,
      'subscription { clientMessages(client: "tail") { __typename ... on Message { seq body } } }',
      {},
    );
    await stream.until(() => stream.received.seqs.length >= 2, 'the two stored messages');
    await ingest(server.url, 'stream-client', 'three');
    await stream.until(() => stream.received.seqs.length >= 3, 'the live message');
    await stream.close();
    expect(stream.received.bodies).toEqual(['one', 'two', 'three']);
  });
});

describe.runIf(kind === 'postgres')('live streaming across API processes (LISTEN/NOTIFY)', () => {
  let server: TestServer;
  let other: ServerProcess;
  beforeAll(async () => {
    server = await startTestServer();
    other = await startServerProcess({ DATABASE_URL: server.database.url as string, ADMIN_PASSWORD: ADMIN.password });
  });
  afterAll(async () => {
    await other?.kill();
    await server.close();
  });

  it('a subscriber hangs up from one process and resumes on another with its cursor: the backlog, then live messages ingested through either, in order, once', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'cross' });
    // The other process learns of the new queue over NOTIFY; wait until it takes posts.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const response = await fetch(`${other.url}/q/cross`, { method: 'POST', body: 'warm-up' });
      if (response.status === 200) break;
      if (Date.now() > deadline)
        throw new Error(`the other process never took posts to the new queue: ${response.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 20; i++) await ingest(other.url, 'cross', `before ${i}`);
    // Subscribed here while the other process stores; resumed there while this one stores.
    await hangUpAndResume({
      queue: 'cross',
      stored: 21,
      firstWsUrl: server.wsUrl,
      firstIngestUrl: other.url,
      secondWsUrl: wsUrlOf(other.url),
      secondIngestUrl: server.url,
    });
  });
});
