import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
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
  beforeAll(async () => {
    server = await startTestServer({ env: { INGEST_MAX_INFLIGHT_BYTES: String(BUDGET) } });
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
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
