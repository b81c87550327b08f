import { createHmac } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import {
  type IncomingMessage,
  MessageWriter,
  type QueueDefinition,
  type QueueId,
  type ReadOutcome,
  scopesForRole,
  silentLogger,
  systemPrincipal,
} from '@switchboard/core';
import type { Database } from '@switchboard/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * Ingest under pressure: statements capped by bytes, a per-process budget for bodies in flight
 * (503 with Retry-After past it), and oversized messages that only a believable sender can turn
 * into a refresh for the queue's clients.
 */

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A database stand-in that records each statement's parameter and holds it until released. */
function recordingDatabase() {
  const statements: Array<{ messages: number; bytes: number; release: () => void }> = [];
  const db = {
    execute(query: { queryChunks: unknown[] }) {
      const payload =
        query.queryChunks.find((chunk): chunk is string => typeof chunk === 'string' && chunk.startsWith('[')) ?? '[]';
      const messages = JSON.parse(payload) as Array<{ i: number }>;
      return new Promise((resolve) => {
        statements.push({
          messages: messages.length,
          bytes: payload.length,
          release: () => resolve(messages.map(({ i }) => ({ out_index: i, out_seq: i + 1, out_duplicate: false }))),
        });
      });
    },
  };
  return { db: db as unknown as Database, statements };
}

const message = (bytes: number): IncomingMessage => ({
  queueId: '00000000-0000-4000-8000-000000000000' as QueueId,
  body: Buffer.alloc(bytes, 0x61),
  contentType: null,
  headers: {},
  sourceIp: null,
  receivedAt: new Date(0),
  dedupKey: null,
});

describe('the message writer', () => {
  it('finding 1: splits a burst into statements capped by bytes, a message over the cap alone', async () => {
    const { db, statements } = recordingDatabase();
    const writer = new MessageWriter({ db, logger: silentLogger }, { maxBatchBytes: 10_000 });
    const writes = [
      writer.write(message(3000)), // alone: nothing was waiting
      ...[3000, 3000, 3000, 3000, 20_000, 100].map((bytes) => writer.write(message(bytes))),
    ];
    const settled = Promise.all(writes);
    for (let n = 1; n <= 5; n++) {
      await waitFor(`statement ${n}`, () => statements.length >= n);
      statements[n - 1]?.release();
    }
    await settled;
    // 3000-byte bodies are 4000 bytes of base64: two fit in 10,000, not three.
    expect(statements.map((s) => s.messages)).toEqual([1, 2, 2, 1, 1]);
    for (const statement of statements.filter((s) => s.messages > 1))
      expect(statement.bytes).toBeLessThanOrEqual(10_000);
  });

  it('finding 1: by default a burst of 1 MiB messages goes four or fewer to a statement', async () => {
    const { db, statements } = recordingDatabase();
    const writer = new MessageWriter({ db, logger: silentLogger });
    const settled = Promise.all(Array.from({ length: 13 }, () => writer.write(message(1024 * 1024))));
    let released = 0;
    let written = 0;
    while (written < 13) {
      await waitFor('the next statement', () => statements.length > released);
      const next = statements[released];
      released += 1;
      written += next?.messages ?? 0;
      next?.release();
    }
    await settled;
    expect(Math.max(...statements.map((s) => s.messages))).toBeLessThanOrEqual(4);
    expect(Math.max(...statements.map((s) => s.bytes))).toBeLessThanOrEqual(4 * 1024 * 1024 + 1024);
  });
});

describe('POST /q/:queue past INGEST_MAX_INFLIGHT_BYTES=2048', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { INGEST_MAX_INFLIGHT_BYTES: '2048' } });
  });
  afterAll(async () => {
    await server.close();
  });

  /** A POST whose body is sent in two parts: its last 10 bytes only when `finish` is called. */
  function slowPost(path: string, body: Buffer, headers: Record<string, string | number> = {}) {
    const req = httpRequest(`${server.url}${path}`, { method: 'POST', headers });
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
    });
    req.write(body.subarray(0, body.length - 10));
    return { answer, finish: () => req.end(body.subarray(body.length - 10)) };
  }

  it('finding 1: answers 503 with Retry-After at once while the budget is full, then takes messages again', async () => {
    const name = uniqueName('q');
    const created = await server.core.queues.create(systemPrincipal, { name });
    if (!created.ok) throw new Error(created.error.message);
    expect(server.core.ingest.bytesInFlight).toBe(0);

    const first = Buffer.alloc(1500, 0x61);
    const held = slowPost(`/q/${name}`, first, { 'content-length': first.length });
    // Charged as it arrives: all but the last 10 bytes so far.
    await waitFor('the first body to be counted', () => server.core.ingest.bytesInFlight === 1490);

    // Declared length over what is left: refused before its body is read.
    const refused = await fetch(`${server.url}/q/${name}`, { method: 'POST', body: new Uint8Array(1000) });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toEqual({ message: expect.stringContaining('try again'), refresh: false });

    // No declared length: counted as it arrives, refused once it does not fit.
    const chunked = slowPost(`/q/${name}`, Buffer.alloc(1000, 0x62));
    chunked.finish();
    const chunkedAnswer = await chunked.answer;
    expect(chunkedAnswer.status).toBe(503);
    expect(JSON.parse(chunkedAnswer.body)).toEqual({ message: expect.stringContaining('try again'), refresh: false });

    held.finish();
    expect((await held.answer).status).toBe(200);
    await waitFor('the budget to be given back', () => server.core.ingest.bytesInFlight === 0);
    const after = await fetch(`${server.url}/q/${name}`, { method: 'POST', body: new Uint8Array(1000) });
    expect(after.status).toBe(200);
    const lone = await fetch(`${server.url}/q/${name}`, { method: 'POST', body: new Uint8Array(5000) });
    expect(lone.status).toBe(200);
    const queue = await server.core.queues.getByName(systemPrincipal, name);
    expect(queue.ok && queue.value.messageCount).toBe(3);
    expect(server.core.ingest.bytesInFlight).toBe(0);
  });
});

describe('POST /q/:queue over INGEST_MAX_BODY_BYTES=2048, by verification', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { INGEST_MAX_BODY_BYTES: '2048' } });
  });
  afterAll(async () => {
    await server.close();
  });

  async function makeQueue(definition: Omit<QueueDefinition, 'name'>) {
    const name = uniqueName('q');
    const created = await server.core.queues.create(systemPrincipal, { name, ...definition });
    if (!created.ok) throw new Error(created.error.message);
    const adminUser = await server.core.users.findByUsername(ADMIN.username);
    if (!adminUser) throw new Error('no admin');
    const admin = { user: adminUser, via: 'password' as const, scopes: scopesForRole('admin') };
    const client = uniqueName('c');
    const listening = await server.core.clients.listen(admin, client, name);
    if (!listening.ok) throw new Error(listening.error.message);
    return {
      post: (body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
        fetch(`${server.url}/q/${name}`, { method: 'POST', body, headers }),
      async read(): Promise<ReadOutcome> {
        const outcome = await server.core.clients.read(admin, client);
        if (!outcome.ok) throw new Error(outcome.error.message);
        return outcome.value;
      },
    };
  }

  const secret = 'a-github-secret';
  const sign = (body: Uint8Array) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const bytes = (text: string) => new Uint8Array(Buffer.from(text));

  it("finding 3: an unverified oversized POST changes no client's cursor or refresh flag", async () => {
    const queue = await makeQueue({ verification: { method: 'github', secret } });
    for (const text of ['one', 'two', 'three']) {
      const body = bytes(text);
      expect((await queue.post(body, { 'x-hub-signature-256': sign(body) })).status).toBe(200);
    }
    const refused = await queue.post(new Uint8Array(2049));
    expect(refused.status).toBe(413);
    expect(await refused.json()).toEqual({ message: expect.any(String), refresh: false });
    // Even with a signature: over the global limit the body is never read, so it cannot be checked.
    const oversized = new Uint8Array(4096);
    expect((await queue.post(oversized, { 'x-hub-signature-256': sign(oversized) })).status).toBe(413);

    const outcome = await queue.read();
    expect(outcome.kind).toBe('messages');
    expect(outcome.kind === 'messages' && outcome.messages.map((m) => m.body.toString())).toEqual([
      'one',
      'two',
      'three',
    ]);
  });

  it('finding 3: on a token queue, an oversized POST refreshes clients only with the right token', async () => {
    const queue = await makeQueue({ verification: { method: 'token', token: 'the-right-token' } });
    expect((await queue.post(bytes('kept'), { 'x-webhook-token': 'the-right-token' })).status).toBe(200);
    expect((await queue.post(new Uint8Array(4096), { 'x-webhook-token': 'a-wrong-token' })).status).toBe(413);
    expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [expect.anything()] });

    expect((await queue.post(new Uint8Array(4096), { 'x-webhook-token': 'the-right-token' })).status).toBe(413);
    expect(await queue.read()).toMatchObject({ kind: 'refresh' });
  });
});
