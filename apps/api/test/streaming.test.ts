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
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (value) => {
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
    async until(condition: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`stream timed out with ${received.seqs.length} messages`);
        await new Promise<void>((resolve) => {
          notify = resolve;
          setTimeout(resolve, 200);
        });
      }
    },
    async close() {
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
    const writers = Array.from({ length: 4 }, (_, w) =>
      (async () => {
        for (let i = 0; i < 25; i++) await ingest(server.url, 'stream-one', `live ${w}.${i}`);
      })(),
    );
    await Promise.all(writers);
    await stream.until(() => stream.received.seqs.length >= 120);
    await new Promise((r) => setTimeout(r, 300));
    await stream.close();

    expect(stream.received.errors).toEqual([]);
    expectContiguous(stream.received.seqs, 11, 130);
    expect(stream.received.bodies.slice(0, 2)).toEqual(['early 11', 'early 12']);
  });

  it('without a cursor: only messages stored after it subscribed', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-two' });
    for (let i = 1; i <= 5; i++) await ingest(server.url, 'stream-two', `old ${i}`);
    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'stream-two' });
    // Give the subscription time to start at the current end.
    await new Promise((r) => setTimeout(r, 500));
    await ingest(server.url, 'stream-two', 'new 1');
    await stream.until(() => stream.received.seqs.length >= 1);
    await stream.close();
    expect(stream.received.seqs).toEqual([6]);
    expect(stream.received.bodies).toEqual(['new 1']);
  });

  it('a subscriber behind the queue limits gets the refresh signal, then continues', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-small', maxMessageCount: 5 });
    for (let i = 1; i <= 12; i++) await ingest(server.url, 'stream-small', `m ${i}`);
    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'stream-small', after: 0 });
    await stream.until(() => stream.received.refreshes >= 1);
    await ingest(server.url, 'stream-small', 'after refresh');
    await stream.until(() => stream.received.bodies.includes('after refresh'));
    await stream.close();
    expect(stream.received.refreshes).toBe(1);
    expect(stream.received.seqs).toEqual([13]);
  });

  it('refuses a queue the member may not listen to, and an unknown queue', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'stream-private' });
    const member = await factories(server.core).user();
    const denied = subscribe(server.wsUrl, member.authorization, STREAM, { queue: 'stream-private' });
    await denied.until(() => denied.received.errors.length > 0);
    await denied.close();
    expect(JSON.stringify(denied.received.errors)).toContain('No queue named');
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
    await stream.until(() => stream.received.seqs.length >= 2);
    await ingest(server.url, 'stream-client', 'three');
    await stream.until(() => stream.received.seqs.length >= 3);
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

  it('a subscriber on one process sees, with a cursor, every message ingested through another, in order, once', async () => {
    await server.core.queues.create(systemPrincipal, { name: 'cross' });
    // The other process learns of the new queue over NOTIFY; wait until it takes posts.
    for (let tries = 0; ; tries++) {
      const response = await fetch(`${other.url}/q/cross`, { method: 'POST', body: 'warm-up' });
      if (response.status === 200) break;
      if (tries > 100) throw new Error(`the other process never took the queue: ${response.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 20; i++) await ingest(other.url, 'cross', `before ${i}`);

    const stream = subscribe(server.wsUrl, admin, STREAM, { queue: 'cross', after: 1 });
    await Promise.all(
      Array.from({ length: 4 }, (_, w) =>
        (async () => {
          for (let i = 0; i < 50; i++) await ingest(other.url, 'cross', `during ${w}.${i}`);
        })(),
      ),
    );
    await stream.until(() => stream.received.seqs.length >= 220);
    await new Promise((r) => setTimeout(r, 300));
    await stream.close();
    expect(stream.received.errors).toEqual([]);
    expectContiguous(stream.received.seqs, 2, 221);
    expect(new Set(stream.received.bodies).size).toBe(220);
  });
});
