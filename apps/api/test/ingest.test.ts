import { createHash } from 'node:crypto';
import {
  type Principal,
  type QueueDefinition,
  type ReadOutcome,
  type StoredMessage,
  scopesForRole,
  systemPrincipal,
} from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * `POST /q/:queue` over real HTTP: what is stored (byte for byte, with its metadata), what is
 * refused (and that a refusal changes nothing), de-duplication, group commit under a burst,
 * address allowlists, trusted proxies, the global body limit and a database outage.
 * Verification methods are in ingest-verification.test.ts.
 */

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

type Body = Uint8Array<ArrayBuffer> | string;

/** Bytes as fetch sends them without inventing a content type (a string would get text/plain). */
const bytes = (...values: number[]) => new Uint8Array(values);
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

function post(server: TestServer, path: string, body?: Body, headers: Record<string, string> = {}): Promise<Answer> {
  return fetch(`${server.url}${path}`, { method: 'POST', body, headers }).then(answer);
}

async function adminPrincipal(server: TestServer): Promise<Principal> {
  const user = await server.core.users.findByUsername(ADMIN.username);
  if (!user) throw new Error('no admin');
  return { user, via: 'password', scopes: scopesForRole('admin') };
}

/**
 * A queue of its own (unique name) with a connected client that starts before its first message,
 * so that every stored message can be read back through core.
 */
async function makeQueue(server: TestServer, definition: Omit<QueueDefinition, 'name'> = {}) {
  const name = uniqueName('q');
  const created = await server.core.queues.create(systemPrincipal, { name, ...definition });
  if (!created.ok) throw new Error(`${created.error.message}: ${JSON.stringify(created.error)}`);
  const admin = await adminPrincipal(server);
  const client = uniqueName('c');
  const listening = await server.core.clients.listen(admin, client, name);
  if (!listening.ok) throw new Error(listening.error.message);
  return {
    name,
    path: `/q/${name}`,
    post: (body?: Body, headers: Record<string, string> = {}, query = '') =>
      post(server, `/q/${name}${query}`, body, headers),
    /** The client's next read, whatever it is. */
    async read(): Promise<ReadOutcome> {
      const outcome = await server.core.clients.read(admin, client);
      if (!outcome.ok) throw new Error(outcome.error.message);
      return outcome.value;
    },
    /** The client's next read, which must be messages (not refresh). */
    async messages(): Promise<StoredMessage[]> {
      const outcome = await this.read();
      if (outcome.kind !== 'messages') throw new Error(`expected messages, got ${JSON.stringify(outcome)}`);
      return outcome.messages;
    },
    async state() {
      const queue = await server.core.queues.getByName(systemPrincipal, name);
      if (!queue.ok) throw new Error(queue.error.message);
      return {
        lastSeq: queue.value.lastSeq,
        messageCount: queue.value.messageCount,
        totalBytes: queue.value.totalBytes,
      };
    },
  };
}

const errorShape = (message: unknown = expect.any(String)) => ({ message, refresh: false });

describe('POST /q/:queue on a default server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  describe('stores the exact request', () => {
    it('keeps a body that is neither UTF-8 nor JSON byte for byte, with its content type, address and headers', async () => {
      const queue = await makeQueue(server);
      // Invalid UTF-8 (lone continuation bytes, an overlong form, 0xff), NUL, CR LF and a BOM-like prefix.
      const body = bytes(
        0xff,
        0xfe,
        0x00,
        0x80,
        0xc0,
        0xaf,
        0x0d,
        0x0a,
        0xef,
        0xbb,
        0xbf,
        0xed,
        0xa0,
        0x80,
        0x7f,
        0x00,
      );
      const accepted = await queue.post(body, {
        'content-type': 'application/octet-stream',
        'x-github-event': 'push',
      });
      expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });

      const [message, ...rest] = await queue.messages();
      expect(rest).toEqual([]);
      expect(message?.seq).toBe(1);
      expect(Buffer.isBuffer(message?.body)).toBe(true);
      expect(message?.body.equals(Buffer.from(body))).toBe(true);
      expect(message?.contentType).toBe('application/octet-stream');
      expect(message?.sourceIp).toBe('127.0.0.1');
      expect(message?.headers).toMatchObject({
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
        'x-github-event': 'push',
      });
      expect(Math.abs((message?.receivedAt.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    });

    it('keeps a body sent without any content-type header, recording no content type', async () => {
      const queue = await makeQueue(server);
      const body = bytes(0x01, 0x02, 0x03, 0xfa, 0xfb, 0xfc, 0x00, 0xff);
      expect((await queue.post(body, { 'x-github-event': 'ping' })).status).toBe(200);

      const [message] = await queue.messages();
      expect(message?.body.equals(Buffer.from(body))).toBe(true);
      expect(message?.contentType).toBeNull();
      expect(message?.headers).not.toHaveProperty('content-type');
      expect(message?.headers['x-github-event']).toBe('ping');
      expect(message?.sourceIp).toBe('127.0.0.1');
    });

    it('keeps a body whose content type would normally be parsed (JSON with odd spacing) as sent', async () => {
      const queue = await makeQueue(server);
      const text = '{ "b" : 2,\n  "a":1 , "é": "\\u00e9" }  \n';
      const accepted = await queue.post(utf8(text), { 'content-type': 'application/json; charset=utf-8' });
      expect(accepted.status).toBe(200);
      const [message] = await queue.messages();
      expect(message?.body.toString('utf8')).toBe(text);
      expect(message?.contentType).toBe('application/json; charset=utf-8');
    });

    it('keeps an empty body, with and without a content type', async () => {
      const queue = await makeQueue(server);
      expect(await queue.post(new Uint8Array(0))).toMatchObject({ status: 200, body: { id: 1 } });
      expect(await queue.post(new Uint8Array(0), { 'content-type': 'application/json' })).toMatchObject({
        status: 200,
        body: { id: 2 },
      });
      const messages = await queue.messages();
      expect(messages.map((m) => [m.seq, m.body.length, m.contentType])).toEqual([
        [1, 0, null],
        [2, 0, 'application/json'],
      ]);
      expect(Buffer.isBuffer(messages[0]?.body)).toBe(true);
      expect(messages[0]?.headers['content-length']).toBe('0');
      expect(await queue.state()).toMatchObject({ lastSeq: 2, messageCount: 2, totalBytes: 0 });
    });

    it('keeps every byte value 0..255 in order', async () => {
      const queue = await makeQueue(server);
      const body = new Uint8Array(512).map((_, i) => (i * 7 + 3) % 256);
      expect((await queue.post(body, { 'content-type': 'image/x-raw' })).status).toBe(200);
      const [message] = await queue.messages();
      expect(message?.body.equals(Buffer.from(body))).toBe(true);
      expect(await queue.state()).toMatchObject({ totalBytes: 512 });
    });
  });

  describe('never stores credentials in the headers', () => {
    it('drops authorization, proxy-authorization and cookie, and keeps ordinary headers', async () => {
      const queue = await makeQueue(server);
      const accepted = await queue.post(utf8('{"zen":"hi"}'), {
        'content-type': 'application/json',
        authorization: 'Bearer not-for-storage',
        'proxy-authorization': 'Basic bm90OmZvcg==',
        cookie: 'session=not-for-storage',
        'x-github-event': 'ping',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
        'user-agent': 'GitHub-Hookshot/044aadd',
      });
      expect(accepted.status).toBe(200);
      const [message] = await queue.messages();
      const names = Object.keys(message?.headers ?? {});
      expect(names).not.toContain('authorization');
      expect(names).not.toContain('proxy-authorization');
      expect(names).not.toContain('cookie');
      expect(JSON.stringify(message?.headers)).not.toContain('not-for-storage');
      expect(message?.headers).toMatchObject({
        'x-github-event': 'ping',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
        'user-agent': 'GitHub-Hookshot/044aadd',
        'content-type': 'application/json',
      });
      // Header names are stored in lower case, as Node gives them.
      expect(names.every((n) => n === n.toLowerCase())).toBe(true);
    });

    it("drops a token queue's configured token header (in any case), but keeps other headers", async () => {
      const queue = await makeQueue(server, {
        verification: { method: 'token', token: 'tok-secret-123', header: 'X-Hook-Secret' },
      });
      const accepted = await queue.post(utf8('{}'), {
        'X-Hook-Secret': 'tok-secret-123',
        'x-github-event': 'push',
        cookie: 'a=b',
      });
      expect(accepted.status).toBe(200);
      const [message] = await queue.messages();
      expect(message?.headers).not.toHaveProperty('x-hook-secret');
      expect(message?.headers).not.toHaveProperty('cookie');
      expect(JSON.stringify(message?.headers)).not.toContain('tok-secret-123');
      expect(message?.headers['x-github-event']).toBe('push');
    });

    it('drops the default X-Webhook-Token header of a token queue that names none', async () => {
      const queue = await makeQueue(server, { verification: { method: 'token', token: 'default-header-token' } });
      expect((await queue.post(utf8('{}'), { 'x-webhook-token': 'default-header-token', 'x-a': '1' })).status).toBe(
        200,
      );
      const [message] = await queue.messages();
      expect(message?.headers).not.toHaveProperty('x-webhook-token');
      expect(message?.headers['x-a']).toBe('1');
    });

    it("drops a basic queue's Authorization header", async () => {
      const queue = await makeQueue(server, {
        verification: { method: 'basic', username: 'hook', password: 'basic-pass-xyz' },
      });
      const accepted = await queue.post(utf8('payload'), {
        authorization: basic('hook', 'basic-pass-xyz'),
        'x-github-event': 'issues',
      });
      expect(accepted.status).toBe(200);
      const [message] = await queue.messages();
      expect(message?.headers).not.toHaveProperty('authorization');
      expect(JSON.stringify(message?.headers)).not.toContain(Buffer.from('hook:basic-pass-xyz').toString('base64'));
      expect(message?.headers['x-github-event']).toBe('issues');
    });
  });

  describe('refusals change nothing', () => {
    it('answers 404 with the Error shape for an unknown queue, and stores nothing anywhere', async () => {
      const queue = await makeQueue(server);
      expect((await queue.post(utf8('first'))).status).toBe(200);
      const before = await queue.state();
      const refused = await post(server, `/q/${uniqueName('missing')}`, utf8('{}'), {
        'content-type': 'application/json',
      });
      expect(refused.status).toBe(404);
      expect(refused.body).toEqual(errorShape(expect.stringContaining('No queue named')));
      expect(await queue.state()).toEqual(before);
      expect((await queue.messages()).map((m) => m.body.toString())).toEqual(['first']);
    });

    it('answers 401 for a wrong signature and leaves lastSeq and messageCount as they were', async () => {
      const queue = await makeQueue(server, {
        verification: { method: 'hmac', secret: 'k', algorithm: 'sha256', encoding: 'hex', header: 'X-Sig' },
      });
      const before = await queue.state();
      const refused = await queue.post(utf8('{"a":1}'), { 'x-sig': 'ab'.repeat(32) });
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual(errorShape(expect.stringContaining('Verification failed')));
      expect(await queue.state()).toEqual(before);
      expect(await queue.messages()).toEqual([]);
    });

    it('answers 403 for an address outside the allowlist and leaves the queue as it was', async () => {
      const queue = await makeQueue(server, { allowedNetworks: ['10.0.0.0/8'] });
      const before = await queue.state();
      const refused = await queue.post(utf8('{}'));
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual(errorShape());
      expect(await queue.state()).toEqual(before);
      expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [] });
    });

    it("answers 413 over the queue's max_message_size, leaves the queue as it was, and its clients refresh", async () => {
      const queue = await makeQueue(server, { maxMessageSize: 100 });
      expect((await queue.post(new Uint8Array(100).fill(0x61))).status).toBe(200);
      expect(await queue.messages()).toHaveLength(1);
      const before = await queue.state();

      const refused = await queue.post(new Uint8Array(101).fill(0x62));
      expect(refused.status).toBe(413);
      expect(refused.body).toEqual(errorShape(expect.stringContaining('100 bytes')));
      expect(await queue.state()).toEqual(before);

      expect(await queue.read()).toMatchObject({ kind: 'refresh', currentSeq: before.lastSeq });
      // Once told, the client reads normally again.
      expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [] });
      expect((await queue.post(utf8('after'))).body).toEqual({ id: 2 });
      expect((await queue.messages()).map((m) => m.body.toString())).toEqual(['after']);
    });
  });

  it('answers 401, not 413, to an unsigned message over the size limit, and leaves clients alone', async () => {
    const queue = await makeQueue(server, {
      maxMessageSize: 10,
      verification: { method: 'github', secret: 'gh-secret' },
    });
    const refused = await queue.post(utf8('{"too":"large"}'));
    expect(refused.status).toBe(401);
    expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [] });
  });

  describe('de-duplication', () => {
    it('by header: a repeated delivery id answers 200 with the first id and duplicate: true, storing one message', async () => {
      const queue = await makeQueue(server, { dedup: { header: 'X-GitHub-Delivery' } });
      const delivery = { 'x-github-delivery': 'd-1111', 'content-type': 'application/json' };
      const first = await queue.post(utf8('{"n":1}'), delivery);
      expect(first).toMatchObject({ status: 200, body: { id: 1 } });
      expect(first.body).toEqual({ id: 1 });

      // The key is the header, not the body: a redelivery with a different body is still a repeat.
      const again = await queue.post(utf8('{"n":1,"redelivered":true}'), delivery);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({ id: 1, duplicate: true });
      expect(await queue.state()).toMatchObject({ lastSeq: 1, messageCount: 1 });

      const other = await queue.post(utf8('{"n":1}'), { ...delivery, 'x-github-delivery': 'd-2222' });
      expect(other.body).toEqual({ id: 2 });

      // Without the header there is no key: every such POST is stored.
      expect((await queue.post(utf8('{"n":3}'))).body).toEqual({ id: 3 });
      expect((await queue.post(utf8('{"n":3}'))).body).toEqual({ id: 4 });

      expect((await queue.post(utf8('{}'), { 'x-github-delivery': 'd-2222' })).body).toEqual({
        id: 2,
        duplicate: true,
      });
      expect(await queue.state()).toMatchObject({ lastSeq: 4, messageCount: 4 });
      const messages = await queue.messages();
      expect(messages.map((m) => [m.seq, m.body.toString()])).toEqual([
        [1, '{"n":1}'],
        [2, '{"n":1}'],
        [3, '{"n":3}'],
        [4, '{"n":3}'],
      ]);
    });

    it('by header: a blank delivery id counts as no key, and repeating it is neither refused nor de-duplicated', async () => {
      const queue = await makeQueue(server, { dedup: { header: 'X-GitHub-Delivery' } });
      const first = await queue.post(utf8('a'), { 'x-github-delivery': '' });
      const second = await queue.post(utf8('b'), { 'x-github-delivery': '' });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect([first.body, second.body]).toEqual([{ id: 1 }, { id: 2 }]);
      expect(await queue.state()).toMatchObject({ lastSeq: 2, messageCount: 2 });

      // Nor does a blank id sink the other messages committed in the same group.
      const burst = await Promise.all([
        ...Array.from({ length: 30 }, (_, i) => queue.post(utf8(`k${i}`), { 'x-github-delivery': `k-${i}` })),
        queue.post(utf8('c'), { 'x-github-delivery': '' }),
        ...Array.from({ length: 30 }, (_, i) => queue.post(utf8(`n${i}`))),
      ]);
      expect(burst.map((a) => a.status)).toEqual(Array(61).fill(200));
      expect(await queue.state()).toMatchObject({ lastSeq: 63, messageCount: 63 });
    });

    it('by body hash: the same bytes twice store one message; other bytes are new', async () => {
      const queue = await makeQueue(server, { dedup: { bodyHash: true } });
      const body = bytes(0xde, 0xad, 0xbe, 0xef, 0x00, 0xff);
      expect((await queue.post(body, { 'content-type': 'application/octet-stream' })).body).toEqual({ id: 1 });
      // Headers do not matter, only the bytes.
      expect((await queue.post(body, { 'x-other': 'yes' })).body).toEqual({ id: 1, duplicate: true });
      expect((await queue.post(bytes(0xde, 0xad, 0xbe, 0xef, 0x00, 0xfe))).body).toEqual({ id: 2 });
      expect(await queue.state()).toMatchObject({ lastSeq: 2, messageCount: 2 });
      const messages = await queue.messages();
      expect(messages[0]?.body.equals(Buffer.from(body))).toBe(true);
      expect(messages[0]?.contentType).toBe('application/octet-stream');
    });

    it('by body hash: 20 identical POSTs at once store exactly one message and all answer 200 with its id', async () => {
      const queue = await makeQueue(server, { dedup: { bodyHash: true } });
      const body = utf8(`{"burst":"${createHash('sha256').update(queue.name).digest('hex')}"}`);
      const answers = await Promise.all(Array.from({ length: 20 }, () => queue.post(body)));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      expect(new Set(answers.map((a) => a.body.id))).toEqual(new Set([1]));
      expect(answers.filter((a) => a.body.duplicate !== true)).toHaveLength(1);
      expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(19);
      expect(await queue.state()).toMatchObject({ lastSeq: 1, messageCount: 1 });
      expect(await queue.messages()).toHaveLength(1);
    });

    it('by header: 20 concurrent POSTs over 4 delivery ids store 4 messages', async () => {
      const queue = await makeQueue(server, { dedup: { header: 'X-GitHub-Delivery' } });
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => queue.post(utf8(`{"i":${i}}`), { 'x-github-delivery': `d-${i % 4}` })),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const idFor = new Map<string, Set<number>>();
      answers.forEach((a, i) => {
        const key = `d-${i % 4}`;
        idFor.set(key, (idFor.get(key) ?? new Set()).add(a.body.id));
      });
      // Each delivery id maps to one stored message, and the four are distinct.
      expect([...idFor.values()].map((ids) => ids.size)).toEqual([1, 1, 1, 1]);
      expect(new Set([...idFor.values()].flatMap((ids) => [...ids]))).toEqual(new Set([1, 2, 3, 4]));
      expect(await queue.state()).toMatchObject({ lastSeq: 4, messageCount: 4 });
    });
  });

  describe('burst', () => {
    it('200 concurrent POSTs answer 200 with ids exactly 1..200, and all 200 are stored (group commit)', async () => {
      const queue = await makeQueue(server);
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => queue.post(utf8(`{"i":${i}}`), { 'content-type': 'application/json' })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
      expect(answers.every((a) => a.body.duplicate === undefined)).toBe(true);
      const ids = answers.map((a) => a.body.id as number).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(await queue.state()).toMatchObject({ lastSeq: 200, messageCount: 200 });

      // Each answer's id is the seq its own body was stored under.
      const stored = await queue.messages();
      expect(stored).toHaveLength(200);
      const bodyBySeq = new Map(stored.map((m) => [m.seq, m.body.toString()]));
      answers.forEach((a, i) => {
        expect(bodyBySeq.get(a.body.id)).toBe(`{"i":${i}}`);
      });
    });
  });

  describe('address allowlist (the test server listens on 127.0.0.1)', () => {
    it('accepts from a queue allowing 127.0.0.0/8 and refuses from one allowing only 10.0.0.0/8', async () => {
      const loopback = await makeQueue(server, { allowedNetworks: ['127.0.0.0/8'] });
      const accepted = await loopback.post(utf8('ok'));
      expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });
      expect((await loopback.messages())[0]?.sourceIp).toBe('127.0.0.1');

      const foreign = await makeQueue(server, { allowedNetworks: ['10.0.0.0/8'] });
      const refused = await foreign.post(utf8('no'));
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual(errorShape(expect.stringContaining('address')));
      expect(await foreign.state()).toMatchObject({ lastSeq: 0, messageCount: 0 });
    });

    it('accepts a single-address entry (127.0.0.1), and any match in a list of several', async () => {
      const single = await makeQueue(server, { allowedNetworks: ['127.0.0.1'] });
      expect((await single.post(utf8('one'))).status).toBe(200);

      const other = await makeQueue(server, { allowedNetworks: ['127.0.0.2'] });
      expect((await other.post(utf8('two'))).status).toBe(403);

      const several = await makeQueue(server, { allowedNetworks: ['10.0.0.0/8', '::1/128', '127.0.0.1/32'] });
      expect((await several.post(utf8('three'))).status).toBe(200);

      const v6only = await makeQueue(server, { allowedNetworks: ['::1/128'] });
      expect((await v6only.post(utf8('four'))).status).toBe(403);
    });

    it('does not believe X-Forwarded-For without TRUSTED_PROXIES', async () => {
      const queue = await makeQueue(server, { allowedNetworks: ['203.0.113.0/24'] });
      const refused = await queue.post(utf8('{}'), { 'x-forwarded-for': '203.0.113.7' });
      expect(refused.status).toBe(403);
      expect(await queue.state()).toMatchObject({ lastSeq: 0, messageCount: 0 });

      // And the address stored is the socket's, not the header's.
      const open = await makeQueue(server);
      expect((await open.post(utf8('{}'), { 'x-forwarded-for': '203.0.113.7' })).status).toBe(200);
      const [message] = await open.messages();
      expect(message?.sourceIp).toBe('127.0.0.1');
      expect(message?.headers['x-forwarded-for']).toBe('203.0.113.7');
    });
  });
});

describe('POST /q/:queue behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1/32)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRUSTED_PROXIES: '127.0.0.1/32' } });
  });
  afterAll(async () => {
    await server.close();
  });

  it("takes the client address from X-Forwarded-For: allowed by the queue's list and stored", async () => {
    const queue = await makeQueue(server, { allowedNetworks: ['203.0.113.0/24'] });
    const accepted = await queue.post(utf8('{"via":"proxy"}'), { 'x-forwarded-for': '203.0.113.7' });
    expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });
    const [message] = await queue.messages();
    expect(message?.sourceIp).toBe('203.0.113.7');
  });

  it('refuses the proxy itself when the request carries no X-Forwarded-For', async () => {
    const queue = await makeQueue(server, { allowedNetworks: ['203.0.113.0/24'] });
    expect((await queue.post(utf8('{}'))).status).toBe(403);
    expect(await queue.state()).toMatchObject({ lastSeq: 0, messageCount: 0 });
  });

  it('uses the nearest untrusted hop, so a spoofed leading entry does not get through', async () => {
    const queue = await makeQueue(server, { allowedNetworks: ['203.0.113.0/24'] });
    const refused = await queue.post(utf8('{}'), { 'x-forwarded-for': '203.0.113.9, 198.51.100.4' });
    expect(refused.status).toBe(403);
    const accepted = await queue.post(utf8('{}'), { 'x-forwarded-for': '198.51.100.4, 203.0.113.9' });
    expect(accepted.status).toBe(200);
    expect((await queue.messages())[0]?.sourceIp).toBe('203.0.113.9');
  });

  it('matches an IPv6 client address forwarded by the proxy against an IPv6 allowlist', async () => {
    const queue = await makeQueue(server, { allowedNetworks: ['::1/128'] });
    expect((await queue.post(utf8('v6'), { 'x-forwarded-for': '::1' })).status).toBe(200);
    expect((await queue.messages())[0]?.sourceIp).toBe('::1');
    expect((await queue.post(utf8('v4'), { 'x-forwarded-for': '203.0.113.7' })).status).toBe(403);
  });
});

describe('POST /q/:queue over INGEST_MAX_BODY_BYTES=2048', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { INGEST_MAX_BODY_BYTES: '2048' } });
  });
  afterAll(async () => {
    await server.close();
  });

  it('takes a body of exactly the limit', async () => {
    const queue = await makeQueue(server);
    expect((await queue.post(new Uint8Array(2048).fill(0x78))).status).toBe(200);
    expect((await queue.messages())[0]?.body.length).toBe(2048);
  });

  it("answers 413 with the Error shape, stores nothing, and puts the queue's clients into refresh", async () => {
    const queue = await makeQueue(server);
    expect((await queue.post(utf8('small'))).body).toEqual({ id: 1 });
    expect(await queue.messages()).toHaveLength(1);
    const before = await queue.state();

    const refused = await queue.post(new Uint8Array(4096).fill(0x79), { 'content-type': 'application/octet-stream' });
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual(errorShape('The message is larger than 2048 bytes'));
    expect(await queue.state()).toEqual(before);

    expect(await queue.read()).toMatchObject({ kind: 'refresh', currentSeq: 1 });
    expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [] });
    expect((await queue.post(utf8('next'))).body).toEqual({ id: 2 });
  });

  it('answers 413 for one byte over the limit, without a content type', async () => {
    const queue = await makeQueue(server);
    const refused = await queue.post(new Uint8Array(2049));
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual(errorShape('The message is larger than 2048 bytes'));
    expect(await queue.state()).toMatchObject({ lastSeq: 0, messageCount: 0 });
  });

  it("does not let an address the queue refuses put the queue's clients into refresh", async () => {
    const queue = await makeQueue(server, { allowedNetworks: ['10.0.0.0/8'] });
    expect((await queue.post(utf8('small'))).status).toBe(403);
    const refused = await queue.post(new Uint8Array(4096));
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual(errorShape());
    expect(await queue.read()).toMatchObject({ kind: 'messages', messages: [] });
    expect(await queue.state()).toMatchObject({ lastSeq: 0, messageCount: 0 });
  });

  it('answers 413 for an oversized body sent to an unknown queue', async () => {
    const refused = await post(server, `/q/${uniqueName('missing')}`, new Uint8Array(4096));
    expect(refused.status).toBe(413);
    expect(refused.body).toEqual(errorShape());
  });

  it('keeps answering normally after oversized requests on the same connection', async () => {
    const queue = await makeQueue(server);
    for (let i = 0; i < 3; i++) expect((await queue.post(new Uint8Array(3000))).status).toBe(413);
    expect((await queue.post(utf8('fine'))).body).toEqual({ id: 1 });
  });
});

describe('POST /q/:queue while the database is unreachable', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.switchboard.app.close();
    await server.database.drop().catch(() => {});
  });

  it('answers 503 with Retry-After and the Error shape, never 500, and /healthz still answers', async () => {
    const queue = await makeQueue(server);
    const limited = await makeQueue(server, { maxMessageSize: 10 });
    const deduped = await makeQueue(server, { dedup: { bodyHash: true } });
    expect((await queue.post(utf8('before'))).status).toBe(200);

    await server.database.client.close();

    const refused = await queue.post(utf8('during'), { 'content-type': 'application/json' });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.body).toEqual(errorShape(expect.stringContaining('try again')));

    // A burst fails the same way, each request on its own.
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => deduped.post(utf8(`{"i":${i}}`))));
    expect(burst.map((a) => a.status)).toEqual(Array(10).fill(503));
    expect(burst.every((a) => a.headers.get('retry-after') !== null)).toBe(true);

    // Refusals that need no database still answer as usual.
    expect((await post(server, `/q/${uniqueName('missing')}`, utf8('{}'))).status).toBe(404);

    // Over the queue's own limit it is still 413, not a 500 because its clients could not be marked.
    const oversized = await limited.post(utf8('more than ten bytes'));
    expect(oversized.status).toBe(413);
    expect(oversized.body).toEqual(errorShape(expect.stringContaining('10 bytes')));

    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  });
});
