import { connect, type Socket } from 'node:net';
import { systemPrincipal } from '@switchboard/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN, basic, gql, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const INTROSPECTION = '{ __schema { queryType { name } } }';
const TYPE_INTROSPECTION = '{ __type(name: "Query") { name } }';

/** Resolves when `check` holds, polling; fails with `what` after a generous deadline. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Everything a test opened, ended after it even when it failed, so that servers can close. */
const opened: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const socket of opened.splice(0)) socket.destroy();
});

interface RawSocket {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

function openRaw(url: string): Promise<RawSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let data = '';
    let isClosed = false;
    const socket = connect(Number(port), hostname, () =>
      resolve({ socket, received: () => data, closed: () => isClosed }),
    );
    opened.push(socket);
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
    });
    socket.on('close', () => {
      isClosed = true;
    });
    socket.on('error', (error) => (isClosed ? undefined : reject(error)));
  });
}

/** A graphql-transport-ws socket, acknowledged, that records what the server sends and how it closed. */
async function openGraphQLSocket(server: TestServer) {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  opened.push({ destroy: () => socket.terminate() });
  const messages: Array<{ type: string; id?: string; payload?: unknown }> = [];
  let close: { code: number; reason: string } | undefined;
  socket.on('message', (data) => messages.push(JSON.parse(String(data))));
  socket.on('close', (code, reason) => {
    close = { code, reason: String(reason) };
  });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: admin } }));
  await waitFor('connection_ack', () => messages.some((m) => m.type === 'connection_ack'));
  return {
    socket,
    messages,
    closed: () => close,
    subscribe(id: string, queue: string) {
      // From the start of the queue, so that a message ingested before the subscription is set up still arrives.
      const query = `subscription { queueMessages(queue: "${queue}", after: 0) { __typename ... on Message { seq } } }`;
      socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
    },
    nextFor: (id: string) => messages.filter((m) => m.id === id && m.type === 'next'),
  };
}

async function ingest(server: TestServer, queue: string, body: string): Promise<void> {
  const response = await fetch(`${server.url}/q/${queue}`, { method: 'POST', body });
  if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
}

describe('finding 12: slow and greedy clients', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REQUEST_TIMEOUT_MS: '400', WS_MAX_OPERATIONS_PER_SOCKET: '2' } });
    for (const name of ['greedy-live', 'greedy-ops']) {
      const created = await server.core.queues.create(systemPrincipal, { name });
      if (!created.ok) throw new Error(created.error.message);
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('finding 12: a body trickled byte by byte gets 408 within the request timeout; WebSockets stay open', async () => {
    // Opened first, so that it is older than the request timeout when the trickle is cut.
    const live = await openGraphQLSocket(server);
    live.subscribe('live', 'greedy-live');

    const raw = await openRaw(server.url);
    raw.socket.write('POST /q/greedy-live HTTP/1.1\r\nHost: switchboard\r\nContent-Length: 100000\r\n\r\n');
    const drip = setInterval(() => {
      if (!raw.closed()) raw.socket.write('a');
    }, 20);
    try {
      await waitFor('the server to end the trickled request', () => raw.closed() || raw.received().length > 0);
    } finally {
      clearInterval(drip);
    }
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408 /);
    raw.socket.destroy();

    // A normal ingest still works, and the older WebSocket still streams.
    await ingest(server, 'greedy-live', 'after the trickle');
    await waitFor('the live subscription to get the message', () => live.nextFor('live').length > 0);
    expect(live.closed()).toBeUndefined();
    live.socket.close();
  });

  it('finding 12: past WS_MAX_OPERATIONS_PER_SOCKET concurrent operations the socket is closed with 4429', async () => {
    const ws = await openGraphQLSocket(server);
    ws.subscribe('one', 'greedy-ops');
    ws.subscribe('two', 'greedy-ops');
    await ingest(server, 'greedy-ops', 'first');
    await waitFor('both subscriptions to get the first message', () =>
      ['one', 'two'].every((id) => ws.nextFor(id).length > 0),
    );

    // The cap counts operations running now: one that completed frees its place.
    ws.socket.send(JSON.stringify({ id: 'one', type: 'complete' }));
    ws.subscribe('three', 'greedy-ops');
    await ingest(server, 'greedy-ops', 'second');
    await waitFor('the third subscription to get the second message', () => ws.nextFor('three').length > 0);
    expect(ws.closed()).toBeUndefined();

    ws.subscribe('four', 'greedy-ops');
    await waitFor('the socket to be closed', () => ws.closed() !== undefined);
    expect(ws.closed()?.code).toBe(4429);
    expect(ws.closed()?.reason).toMatch(/2 operations/);
  });

  it('finding 12: introspection is refused to anonymous callers and allowed with credentials', async () => {
    for (const query of [INTROSPECTION, TYPE_INTROSPECTION]) {
      const anonymous = await gql(server, query);
      expect(anonymous.body.data ?? null).toBeNull();
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(anonymous.body.errors?.[0]?.message).toMatch(/credentials/);
    }
    expect((await gql(server, '{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
    const signedIn = await gql(server, INTROSPECTION, { authorization: admin });
    expect(signedIn.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });
});

describe('finding 12: settings that open or close introspection and cap connections', () => {
  let open: TestServer;
  let capped: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ env: { GRAPHQL_INTROSPECTION: 'open' } });
    capped = await startTestServer({ env: { MAX_CONNECTIONS: '2', GRAPHQL_INTROSPECTION: 'off' } });
  });
  afterAll(async () => {
    await open?.close();
    await capped?.close();
  });

  it('finding 12: GRAPHQL_INTROSPECTION=open allows anyone, =off refuses even an admin', async () => {
    expect((await gql(open, INTROSPECTION)).body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    // Raw sockets, so that fetch's pool does not hold this server's few connections afterwards.
    const raw = await openRaw(capped.url);
    const body = JSON.stringify({ query: INTROSPECTION });
    raw.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: ${admin}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await waitFor('the introspection answer', () => raw.closed());
    expect(raw.received()).toContain('GRAPHQL_VALIDATION_FAILED');
    expect(raw.received()).not.toContain('"queryType"');
  });

  it('finding 12: connections past MAX_CONNECTIONS are refused; a freed place is usable again', async () => {
    const health = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const held = [await openRaw(capped.url), await openRaw(capped.url)];
    for (const raw of held) {
      raw.socket.write(health);
      await waitFor('a held connection to be answered', () => raw.received().startsWith('HTTP/1.1 200'));
    }
    const extra = await openRaw(capped.url);
    extra.socket.write(health);
    await waitFor('the connection past the cap to be closed', () => extra.closed());
    expect(extra.received()).toBe('');

    held[0]?.socket.destroy();
    await waitFor(
      'the server to count the freed connection',
      () =>
        new Promise<boolean>((resolve) =>
          capped.switchboard.app.server.getConnections((_e, count) => resolve(count < 2)),
        ),
    );
    const again = await openRaw(capped.url);
    again.socket.write(health);
    await waitFor('the new connection to be answered', () => again.received().startsWith('HTTP/1.1 200'));
    for (const raw of [held[1], again]) raw?.socket.destroy();
  });
});
