import { createHmac } from 'node:crypto';
import { type Principal, type QueueDefinition, scopesForRole, systemPrincipal } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * `POST /q/:queue` verification over real HTTP: a good request is stored (200), a bad one answers
 * 401 with the Error shape and stores nothing. Signatures are made here with node:crypto over the
 * exact bytes sent.
 */

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

type Body = Uint8Array<ArrayBuffer>;

const utf8 = (text: string): Body => new Uint8Array(Buffer.from(text, 'utf8'));
const hmacOf = (algorithm: string, key: string | Buffer, payload: Uint8Array | string) =>
  createHmac(algorithm, key).update(payload);
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('POST /q/:queue verification over HTTP', () => {
  let server: TestServer;
  let admin: Principal;

  beforeAll(async () => {
    server = await startTestServer();
    const user = await server.core.users.findByUsername(ADMIN.username);
    if (!user) throw new Error('no admin');
    admin = { user, via: 'password', scopes: scopesForRole('admin') };
  });
  afterAll(async () => {
    await server.close();
  });

  async function makeQueue(verification: QueueDefinition['verification']) {
    const name = uniqueName('vq');
    const created = await server.core.queues.create(systemPrincipal, { name, verification });
    if (!created.ok) throw new Error(`${created.error.message}: ${JSON.stringify(created.error)}`);
    const client = uniqueName('c');
    const listening = await server.core.clients.listen(admin, client, name);
    if (!listening.ok) throw new Error(listening.error.message);
    return {
      name,
      async post(body: Body, headers: Record<string, string> = {}, query = ''): Promise<Answer> {
        const response = await fetch(`${server.url}/q/${name}${query}`, { method: 'POST', body, headers });
        const text = await response.text();
        return { status: response.status, headers: response.headers, body: JSON.parse(text) };
      },
      async stored() {
        const read = await server.core.clients.read(admin, client);
        if (!read.ok || read.value.kind !== 'messages') throw new Error(`unexpected read ${JSON.stringify(read)}`);
        return read.value.messages;
      },
      async state() {
        const queue = await server.core.queues.getByName(systemPrincipal, name);
        if (!queue.ok) throw new Error(queue.error.message);
        return { lastSeq: queue.value.lastSeq, messageCount: queue.value.messageCount };
      },
    };
  }
  type TestQueue = Awaited<ReturnType<typeof makeQueue>>;

  /**
   * Every answer is 401 with the Error shape (the reason matching `reason` when given), and nothing is
   * stored. `send` starts the requests only once the queue's state has been read, so a request stored
   * in error cannot slip into the "before" count.
   */
  async function expectRefused(queue: TestQueue, send: () => Array<Promise<Answer>>, reason?: RegExp) {
    const before = await queue.state();
    for (const answer of await Promise.all(send())) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ message: expect.stringMatching(/^Verification failed: /), refresh: false });
      if (reason) expect(answer.body.message).toMatch(reason);
    }
    expect(await queue.state()).toEqual(before);
  }

  describe('token', () => {
    it('in a header: the right token is stored; a wrong or missing one is refused', async () => {
      const queue = await makeQueue({ method: 'token', token: 'tok-Zx9-secret', header: 'X-Hook-Token' });
      const accepted = await queue.post(utf8('{"ok":1}'), { 'x-hook-token': 'tok-Zx9-secret' });
      expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });

      await expectRefused(queue, () => [queue.post(utf8('{}'), { 'x-hook-token': 'tok-Zx9-secreT' })], /wrong token/);
      await expectRefused(queue, () => [queue.post(utf8('{}'), { 'x-hook-token': 'tok-Zx9-secret x' })]);
      await expectRefused(queue, () => [queue.post(utf8('{}'))], /missing X-Hook-Token header/i);
      // Another header carrying the token is not the configured one.
      await expectRefused(queue, () => [queue.post(utf8('{}'), { 'x-webhook-token': 'tok-Zx9-secret' })]);
      expect((await queue.stored()).map((m) => m.body.toString())).toEqual(['{"ok":1}']);
    });

    it('in a query parameter (?token=): the right token is stored; a wrong or missing one is refused', async () => {
      const token = 'q+t/k=1&2 é';
      const queue = await makeQueue({ method: 'token', token, query: 'token' });
      const accepted = await queue.post(utf8('{"via":"query"}'), {}, `?token=${encodeURIComponent(token)}`);
      expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });

      await expectRefused(
        queue,
        () => [queue.post(utf8('{}'), {}, '?token=nope')],
        /wrong token in token query parameter/,
      );
      await expectRefused(queue, () => [queue.post(utf8('{}'), {}, '?token=')], /missing/);
      await expectRefused(queue, () => [queue.post(utf8('{}'), {}, `?other=${encodeURIComponent(token)}`)], /missing/);
      await expectRefused(queue, () => [queue.post(utf8('{}'))], /token query parameter/);

      const [message, ...rest] = await queue.stored();
      expect(rest).toEqual([]);
      expect(message?.body.toString()).toBe('{"via":"query"}');
      expect(JSON.stringify(message?.headers)).not.toContain('q+t');
    });
  });

  describe('basic', () => {
    it('the right username and password are stored; anything else is refused', async () => {
      const queue = await makeQueue({ method: 'basic', username: 'hooks', password: 'pa:ss word' });
      expect((await queue.post(utf8('a'), { authorization: basic('hooks', 'pa:ss word') })).status).toBe(200);
      // The scheme is case-insensitive.
      const lower = `basic ${Buffer.from('hooks:pa:ss word').toString('base64')}`;
      expect((await queue.post(utf8('b'), { authorization: lower })).status).toBe(200);

      await expectRefused(
        queue,
        () => [
          queue.post(utf8('x'), { authorization: basic('hooks', 'pa:ss wore') }),
          queue.post(utf8('x'), { authorization: basic('hook', 'pa:ss word') }),
        ],
        /wrong username or password/,
      );
      await expectRefused(queue, () => [queue.post(utf8('x'), { authorization: 'Bearer pa:ss word' })], /not Basic/);
      await expectRefused(queue, () => [queue.post(utf8('x'), { authorization: 'Basic !!!' })], /malformed/);
      await expectRefused(queue, () => [queue.post(utf8('x'))], /missing Authorization header/);
      expect((await queue.stored()).map((m) => m.body.toString())).toEqual(['a', 'b']);
    });
  });

  describe('generic hmac (sha256, hex, prefix sha256=)', () => {
    const secret = 'hmac-secret-123';
    const verification = {
      method: 'hmac' as const,
      secret,
      algorithm: 'sha256' as const,
      encoding: 'hex' as const,
      header: 'X-Signature',
      prefix: 'sha256=',
    };
    const sign = (body: Uint8Array) => `sha256=${hmacOf('sha256', secret, body).digest('hex')}`;

    it('a signature over the exact bytes is stored, binary bodies included', async () => {
      const queue = await makeQueue(verification);
      const json = utf8('{"a": 1,  "b":[true]}\n');
      expect((await queue.post(json, { 'x-signature': sign(json), 'content-type': 'application/json' })).body).toEqual({
        id: 1,
      });
      const binary = new Uint8Array([0xff, 0x00, 0xfe, 0x80, 0x0d, 0x0a]);
      expect((await queue.post(binary, { 'x-signature': sign(binary) })).body).toEqual({ id: 2 });
      // Upper-case hex digits are the same digest.
      expect(
        (await queue.post(json, { 'x-signature': sign(json).toUpperCase().replace('SHA256=', 'sha256=') })).status,
      ).toBe(200);
      const stored = await queue.stored();
      expect(stored[1]?.body.equals(Buffer.from(binary))).toBe(true);
    });

    it('a wrong, tampered, unprefixed, malformed or missing signature is refused', async () => {
      const queue = await makeQueue(verification);
      const body = utf8('{"amount":100}');
      await expectRefused(
        queue,
        () => [
          queue.post(utf8('{"amount":900}'), { 'x-signature': sign(body) }),
          queue.post(body, { 'x-signature': `sha256=${hmacOf('sha256', 'other-secret', body).digest('hex')}` }),
        ],
        /x-signature signature does not match/i,
      );
      await expectRefused(
        queue,
        () => [queue.post(body, { 'x-signature': sign(body).slice('sha256='.length) })],
        /start with/,
      );
      await expectRefused(queue, () => [queue.post(body, { 'x-signature': `${sign(body)}zz` })], /not a hex digest/);
      await expectRefused(queue, () => [queue.post(body, { 'x-signature': sign(body).replace('sha256=', 'sha1=') })]);
      await expectRefused(queue, () => [queue.post(body)], /missing x-signature header/i);
      expect(await queue.stored()).toEqual([]);
    });
  });

  describe('GitHub', () => {
    const secret = 'gh-webhook-secret';
    const sign256 = (body: Uint8Array) => `sha256=${hmacOf('sha256', secret, body).digest('hex')}`;
    const sign1 = (body: Uint8Array) => `sha1=${hmacOf('sha1', secret, body).digest('hex')}`;

    it('X-Hub-Signature-256 made with node:crypto is accepted; a wrong one is refused', async () => {
      const queue = await makeQueue({ method: 'github', secret });
      const body = utf8(JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }));
      const headers = {
        'content-type': 'application/json',
        'x-github-event': 'ping',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      };
      const accepted = await queue.post(body, { ...headers, 'x-hub-signature-256': sign256(body) });
      expect(accepted).toMatchObject({ status: 200, body: { id: 1 } });

      await expectRefused(
        queue,
        () => [
          queue.post(utf8('{"zen":"forged"}'), { ...headers, 'x-hub-signature-256': sign256(body) }),
          queue.post(body, { ...headers, 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }),
        ],
        /X-Hub-Signature-256/,
      );
      // A valid SHA-1 signature does not rescue a wrong SHA-256 one.
      await expectRefused(queue, () => [
        queue.post(body, { 'x-hub-signature-256': `sha256=${'1'.repeat(64)}`, 'x-hub-signature': sign1(body) }),
      ]);
      await expectRefused(queue, () => [queue.post(body, headers)], /missing X-Hub-Signature-256 header/);

      const [message, ...rest] = await queue.stored();
      expect(rest).toEqual([]);
      expect(message?.body.equals(Buffer.from(body))).toBe(true);
      expect(message?.headers).toMatchObject({ 'x-github-event': 'ping', 'x-hub-signature-256': sign256(body) });
    });

    it('falls back to X-Hub-Signature (SHA-1) only when no SHA-256 header is sent', async () => {
      const queue = await makeQueue({ method: 'github', secret });
      const body = utf8('{"legacy":true}');
      expect((await queue.post(body, { 'x-hub-signature': sign1(body) })).status).toBe(200);
      await expectRefused(
        queue,
        () => [queue.post(body, { 'x-hub-signature': sign1(utf8('{}')) })],
        /X-Hub-Signature /,
      );
    });
  });

  describe('Stripe', () => {
    const secret = 'whsec_stripe_test_secret';
    const header = (body: Uint8Array, t: number, key = secret) =>
      `t=${t},v1=${hmacOf('sha256', key, Buffer.concat([Buffer.from(`${t}.`), body])).digest('hex')}`;

    it('a fresh, correctly signed event is accepted', async () => {
      const queue = await makeQueue({ method: 'stripe', secret });
      const body = utf8('{"id":"evt_1","type":"charge.succeeded"}');
      expect((await queue.post(body, { 'stripe-signature': header(body, nowSeconds()) })).body).toEqual({ id: 1 });
      // Several v1 signatures (during a secret roll): any one valid is enough.
      const rolled = `${header(body, nowSeconds(), 'whsec_old')},v1=${header(body, nowSeconds()).split('v1=')[1]}`;
      expect((await queue.post(body, { 'stripe-signature': rolled })).body).toEqual({ id: 2 });
    });

    it('a correctly signed event 10 minutes old is refused with 401 naming the tolerance', async () => {
      const queue = await makeQueue({ method: 'stripe', secret });
      const body = utf8('{"id":"evt_old"}');
      const old = nowSeconds() - 600;
      await expectRefused(
        queue,
        () => [queue.post(body, { 'stripe-signature': header(body, old) })],
        /Stripe-Signature timestamp is outside the 300-second tolerance/,
      );
      // As far in the future, too.
      await expectRefused(
        queue,
        () => [queue.post(body, { 'stripe-signature': header(body, nowSeconds() + 600) })],
        /tolerance/,
      );
      expect(await queue.stored()).toEqual([]);
    });

    it('the same 10-minute-old event is accepted by a queue whose tolerance is wider', async () => {
      const queue = await makeQueue({ method: 'stripe', secret, toleranceSeconds: 900 });
      const body = utf8('{"id":"evt_old"}');
      expect((await queue.post(body, { 'stripe-signature': header(body, nowSeconds() - 600) })).status).toBe(200);
    });

    it('a wrong signature, a missing timestamp or a missing header is refused', async () => {
      const queue = await makeQueue({ method: 'stripe', secret });
      const body = utf8('{"id":"evt_2"}');
      await expectRefused(
        queue,
        () => [
          queue.post(body, { 'stripe-signature': header(body, nowSeconds(), 'whsec_wrong') }),
          queue.post(utf8('{"id":"evt_3"}'), { 'stripe-signature': header(body, nowSeconds()) }),
        ],
        /no Stripe-Signature v1 signature matches/,
      );
      await expectRefused(
        queue,
        () => [queue.post(body, { 'stripe-signature': `v1=${'a'.repeat(64)}` })],
        /no valid t=/,
      );
      await expectRefused(queue, () => [queue.post(body)], /missing Stripe-Signature header/);
    });
  });

  describe('other providers, briefly', () => {
    it('Shopify, Slack and Standard Webhooks: good signatures are stored, bad ones refused', async () => {
      const body = utf8('{"provider":"test"}');

      const shopify = await makeQueue({ method: 'shopify', secret: 'shpss' });
      const shopifySignature = hmacOf('sha256', 'shpss', body).digest('base64');
      expect((await shopify.post(body, { 'x-shopify-hmac-sha256': shopifySignature })).status).toBe(200);
      await expectRefused(shopify, () => [shopify.post(utf8('{}'), { 'x-shopify-hmac-sha256': shopifySignature })]);

      const slack = await makeQueue({ method: 'slack', secret: 'slack-signing' });
      const ts = String(nowSeconds());
      const slackSignature = `v0=${hmacOf('sha256', 'slack-signing', Buffer.concat([Buffer.from(`v0:${ts}:`), body])).digest('hex')}`;
      expect(
        (await slack.post(body, { 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature })).status,
      ).toBe(200);
      await expectRefused(slack, () => [
        slack.post(body, { 'x-slack-request-timestamp': String(Number(ts) - 1), 'x-slack-signature': slackSignature }),
      ]);

      const key = Buffer.from('standard-webhooks-key-bytes');
      const standard = await makeQueue({ method: 'standard-webhooks', secret: `whsec_${key.toString('base64')}` });
      const id = 'msg_2Lh9KRb';
      const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), body]);
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': ts,
        'webhook-signature': `v1,${hmacOf('sha256', key, signed).digest('base64')}`,
      };
      expect((await standard.post(body, headers)).status).toBe(200);
      await expectRefused(standard, () => [standard.post(body, { ...headers, 'webhook-id': 'msg_other' })]);
    });
  });
});
