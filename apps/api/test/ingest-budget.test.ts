import { type ClientRequest, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { systemPrincipal } from '@switchboard/core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * The ingest budget charges bytes as they arrive, after the queue and the sender's address have
 * been checked: sockets that only declare a length hold nothing, a body that stops fitting
 * midway is answered, not reset, and every way an upload can end gives its bytes back.
 */

const BUDGET = 4096;

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

describe(`POST /q/:queue with INGEST_MAX_INFLIGHT_BYTES=${BUDGET}`, () => {
  let server: TestServer;
  const sockets: Socket[] = [];
  const uploads: ClientRequest[] = [];
  beforeAll(async () => {
    server = await startTestServer({ env: { INGEST_MAX_INFLIGHT_BYTES: String(BUDGET) } });
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const req of uploads.splice(0)) req.destroy();
    await waitFor('the budget to be given back', () => server.core.ingest.bytesInFlight === 0);
  });
  afterAll(async () => {
    await server.close();
  });

  async function makeQueue(allowedNetworks: string[] = []) {
    const name = uniqueName('q');
    const created = await server.core.queues.create(systemPrincipal, { name, allowedNetworks });
    if (!created.ok) throw new Error(created.error.message);
    return { name, id: created.value.id };
  }

  /** A socket that sends a POST's headers, declaring `length` bytes, and then nothing; resolves with what comes back. */
  function declareOnly(path: string, length: number) {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    sockets.push(socket);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
    return { received: () => received };
  }

  /** A POST written in parts under the caller's control; `chunked` leaves out the length. */
  function upload(path: string, declared?: number) {
    const headers = declared === undefined ? {} : { 'content-length': declared };
    const req = httpRequest(`${server.url}${path}`, { method: 'POST', headers });
    uploads.push(req);
    let failure: Error | null = null;
    const answer = new Promise<Answer>((resolve, reject) => {
      req.on('response', (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', (error) => {
        failure = error;
        reject(error);
      });
    });
    answer.catch(() => {});
    return {
      req,
      answer,
      failed: () => failure,
      write: (bytes: number) => req.write(Buffer.alloc(bytes, 0x61)),
      end: (bytes = 0) => req.end(Buffer.alloc(bytes, 0x61)),
    };
  }

  /**
   * A POST over a socket of its own, written in parts under the caller's control, that keeps
   * reading what comes back and can send further requests on the same connection.
   */
  function rawPost(path: string, length: number, options: { close?: boolean } = {}) {
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    sockets.push(socket);
    let received = '';
    let failure: Error | null = null;
    let ended = false;
    let closed = false;
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', (error) => {
      failure = error;
    });
    socket.on('end', () => {
      ended = true;
    });
    socket.on('close', () => {
      closed = true;
    });
    const connection = options.close ? 'Connection: close\r\n' : '';
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${connection}Content-Length: ${length}\r\n\r\n`);
    return {
      socket,
      received: () => received,
      failed: () => failure,
      /** The server closed its side (a FIN, not a reset). */
      ended: () => ended,
      closed: () => closed,
      write: (bytes: number) =>
        new Promise<void>((resolve, reject) =>
          socket.write(Buffer.alloc(bytes, 0x61), (error) => (error ? reject(error) : resolve())),
        ),
    };
  }

  /** The answers on one connection, in order: status, lower-case headers and body. */
  function answers(received: string): Answer[] {
    const found: Answer[] = [];
    let rest = received;
    for (;;) {
      const head = rest.indexOf('\r\n\r\n');
      if (head < 0) return found;
      const [statusLine = '', ...lines] = rest.slice(0, head).split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (rest.length < head + 4 + length) return found;
      found.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(head + 4, head + 4 + length) });
      rest = rest.slice(head + 4 + length);
    }
  }

  it('finding 1: sockets that declare large bodies and send nothing, or post to unknown queues, do not take the budget from real senders', async () => {
    const queue = await makeQueue();
    const fenced = await makeQueue(['10.0.0.0/8']);
    const admit = vi.spyOn(server.core.ingest, 'admit');

    // Seven sockets that declare a body of 1 MB each (well over the budget) and send none of it.
    for (let i = 0; i < 7; i++) declareOnly(`/q/${queue.name}`, 1_000_000);
    await waitFor('the idle sockets to reach the route', () => admit.mock.calls.length >= 7);
    expect(server.core.ingest.bytesInFlight).toBe(0);
    const real = await fetch(`${server.url}/q/${queue.name}`, { method: 'POST', body: new Uint8Array(1000) });
    expect(real.status).toBe(200);

    // An unknown queue and an address the queue does not allow are answered before any body.
    const unknown = declareOnly('/q/no-such-queue', 1_000_000);
    const foreign = declareOnly(`/q/${fenced.name}`, 1_000_000);
    await waitFor('404 for the unknown queue', () => unknown.received().startsWith('HTTP/1.1 404'));
    await waitFor('403 for the foreign address', () => foreign.received().startsWith('HTTP/1.1 403'));
    expect(server.core.ingest.bytesInFlight).toBe(0);
    const again = await fetch(`${server.url}/q/${queue.name}`, { method: 'POST', body: new Uint8Array(BUDGET - 100) });
    expect(again.status).toBe(200);
    admit.mockRestore();
  });

  it('finding 1: a chunked body whose later chunks do not fit is answered 503 with Retry-After, not reset', async () => {
    const queue = await makeQueue();
    const holder = upload(`/q/${queue.name}`, 3000);
    holder.write(2500);
    await waitFor('the first body to be counted', () => server.core.ingest.bytesInFlight >= 2500);

    const chunked = upload(`/q/${queue.name}`);
    chunked.write(500);
    await waitFor('the first chunk to be counted', () => server.core.ingest.bytesInFlight >= 3000);
    // Over what is left: refused, while the sender goes on sending.
    for (let i = 0; i < 16; i++) chunked.write(64 * 1024);
    const refused = await chunked.answer;
    // The rest of the body is read and discarded, not met with a reset.
    chunked.end(64 * 1024);
    await new Promise((resolve) => chunked.req.on('close', resolve));
    expect(chunked.failed()).toBeNull();
    expect(refused.status).toBe(503);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(refused.body)).toEqual({ message: expect.stringContaining('try again'), refresh: false });

    holder.end(500);
    expect((await holder.answer).status).toBe(200);
    await waitFor('the budget to be given back', () => server.core.ingest.bytesInFlight === 0);
  });

  it('finding 1: a body refused midway, or at the door, is answered 503 at once and its connection stays open for the rest of the body and the next request', async () => {
    const queue = await makeQueue();
    const holder = upload(`/q/${queue.name}`, 3500);
    holder.write(2000);
    await waitFor('the first body to be counted', () => server.core.ingest.bytesInFlight >= 2000);

    // Admitted (2096 of the 4096 are free), charged 1000, then refused when the holder has grown.
    const midway = rawPost(`/q/${queue.name}`, 2000);
    await midway.write(1000);
    await waitFor('the second body to be counted', () => server.core.ingest.bytesInFlight >= 3000);
    holder.write(1000);
    await waitFor('the first body to grow', () => server.core.ingest.bytesInFlight >= 4000);
    await midway.write(500);
    await waitFor('the answer to the body refused midway', () => answers(midway.received()).length === 1);
    // Declared at 2000 bytes while the holder keeps 3000: refused before any of it is read.
    const atDoor = rawPost(`/q/${queue.name}`, 2000);
    await waitFor('the answer to the body refused at the door', () => answers(atDoor.received()).length === 1);

    for (const sender of [midway, atDoor]) {
      const [refused] = answers(sender.received());
      expect(refused?.status).toBe(503);
      expect(Number(refused?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(refused?.headers.connection).toBe('keep-alive');
    }
    // The rest of each body, and then another request on the same connection.
    await midway.write(500);
    await atDoor.write(2000);
    for (const sender of [midway, atDoor]) {
      sender.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the next answer on the same connection', () => {
        if (sender.ended() || sender.failed()) throw new Error(`connection closed: ${sender.failed() ?? 'end'}`);
        return answers(sender.received()).length === 2;
      });
      expect(answers(sender.received())[1]?.status).toBe(200);
      expect(sender.failed()).toBeNull();
    }

    holder.end(500);
    expect((await holder.answer).status).toBe(200);
  });

  it('finding 1: a sender that asks to close the connection gets its 503 after the rest of its body, and the connection closes without a reset', async () => {
    const queue = await makeQueue();
    const admitMore = vi.spyOn(server.core.ingest, 'admitMore');
    const admit = vi.spyOn(server.core.ingest, 'admit');
    const refusedBy = (spy: typeof admit | typeof admitMore) =>
      spy.mock.results.some((r) => r.type === 'return' && !r.value.ok);
    const holder = upload(`/q/${queue.name}`, 3500);
    holder.write(2000);
    await waitFor('the first body to be counted', () => server.core.ingest.bytesInFlight >= 2000);

    const midway = rawPost(`/q/${queue.name}`, 2000, { close: true });
    await midway.write(1000);
    await waitFor('the second body to be counted', () => server.core.ingest.bytesInFlight >= 3000);
    holder.write(1000);
    await waitFor('the first body to grow', () => server.core.ingest.bytesInFlight >= 4000);
    await midway.write(500);
    await waitFor('the refusal midway', () => refusedBy(admitMore));
    const atDoor = rawPost(`/q/${queue.name}`, 2000, { close: true });
    await waitFor('the refusal at the door', () => refusedBy(admit));

    // Both refusals are decided; the senders go on with the rest of their bodies.
    await midway.write(500);
    await atDoor.write(2000);
    for (const sender of [midway, atDoor]) {
      await waitFor('the connection to close after the answer', () => sender.closed());
      expect(sender.failed()).toBeNull();
      expect(sender.ended()).toBe(true);
      const [refused, ...more] = answers(sender.received());
      expect(refused?.status).toBe(503);
      expect(Number(refused?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(more).toEqual([]);
    }
    admit.mockRestore();
    admitMore.mockRestore();

    holder.end(500);
    expect((await holder.answer).status).toBe(200);
  });

  it('finding 1: uploads aborted mid-body, or whose queue is removed while they are sent, give back every byte', async () => {
    const queue = await makeQueue();
    const aborted = [upload(`/q/${queue.name}`, 2000), upload(`/q/${queue.name}`), upload(`/q/${queue.name}`, 1500)];
    for (const one of aborted) one.write(1000);
    await waitFor('the aborted bodies to be counted', () => server.core.ingest.bytesInFlight >= 3000);
    for (const one of aborted) one.req.destroy();

    const doomed = await makeQueue();
    const orphan = upload(`/q/${doomed.name}`, 1000);
    orphan.write(500);
    await waitFor('the orphan to be counted', () => server.core.ingest.bytesInFlight >= 500);
    const deleted = await server.core.queues.delete(systemPrincipal, doomed.id);
    expect(deleted.ok).toBe(true);
    await waitFor('the registry to forget the queue', () => server.core.registry.get(doomed.name) === undefined);
    orphan.end(500);
    expect((await orphan.answer).status).toBe(404);

    await waitFor('the budget to be given back', () => server.core.ingest.bytesInFlight === 0);
    // The whole budget is usable again: a body held just short of its end, and one for the rest.
    const held = upload(`/q/${queue.name}`, BUDGET - 1000);
    held.write(BUDGET - 1001);
    await waitFor('the held body', () => server.core.ingest.bytesInFlight >= BUDGET - 1001);
    const rest = await fetch(`${server.url}/q/${queue.name}`, { method: 'POST', body: new Uint8Array(1000) });
    expect(rest.status).toBe(200);
    held.end(1);
    expect((await held.answer).status).toBe(200);
    await waitFor('the budget to be given back', () => server.core.ingest.bytesInFlight === 0);
  });
});
