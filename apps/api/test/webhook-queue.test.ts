import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, startTestServer, type TestServer } from './harness.ts';

/** The sample configuration of the Webhook Queue's README, as it stands (less its JS comments). */
function readmeConfig(overrides: { johnQueues?: string[]; extraQueues?: unknown[] } = {}) {
  return {
    listen_host: '0.0.0.0',
    listen_port: 8080,
    users: [
      { name: 'John Doe', pass_hash: 'plain;;insecure', can_reload: false, queues: overrides.johnQueues ?? ['foo'] },
    ],
    queues: [
      {
        name: 'foo',
        whitelist_ip: ['127.0.0.1'],
        auth: { method: 'hmac-sha256', key: '12345', header_name: 'Foo-Auth' },
      },
      ...(overrides.extraQueues ?? []),
    ],
    max_message_count: 100,
    max_message_size: 10000,
    max_queue_size: 500000,
  };
}

const john = basic('John Doe', 'insecure');
const admin = basic(ADMIN.username, ADMIN.password);
const sign = (body: string) => createHmac('sha256', '12345').update(body).digest('hex');

/**
 * POSTs from another loopback address (127.0.0.2): the whole of 127.0.0.0/8 reaches the server,
 * but the queue's whitelist_ip lists only 127.0.0.1, so this is a foreign address to it.
 */
function postFrom(localAddress: string, url: string, body: string, headers: Record<string, string>) {
  const target = new URL(url);
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const outgoing = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', localAddress, headers },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

describe("the Webhook Queue README's scenario, over its own routes and config file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-wq-'));
  const configPath = join(dir, 'config.json');
  let server: TestServer;

  const call = (
    method: string,
    path: string,
    options: { authorization?: string; body?: string; headers?: Record<string, string> } = {},
  ) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { ...(options.authorization ? { authorization: options.authorization } : {}), ...options.headers },
      body: options.body,
    });
  const post = (queue: string, body: string, signature = sign(body)) =>
    call('POST', `/q/${queue}`, { body, headers: { 'content-type': 'application/json', 'foo-auth': signature } });
  const read = async (client: string, authorization = john) => {
    const response = await call('GET', `/read/${client}`, { authorization });
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    writeFileSync(configPath, JSON.stringify(readmeConfig()));
    server = await startTestServer({ env: { SWITCHBOARD_CONFIG: configPath } });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /time answers the server start time as a scalar, without authentication', async () => {
    const response = await call('GET', '/time');
    expect(response.status).toBe(200);
    const time = Number(await response.text());
    expect(Math.abs(time - Date.now() / 1000)).toBeLessThan(120);
  });

  it('listens, takes a signed webhook, and reads it back as a MessageList', async () => {
    const listen = await call('GET', '/listen/laptop/foo', { authorization: john });
    expect(listen.status).toBe(200);
    expect(await listen.text()).toBe('');

    const body = '{"event":"push","n":1}';
    const accepted = await post('foo', body);
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ id: 1 });

    const first = await read('laptop');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      time: expect.stringMatching(/^\d+$/),
      current_message: 1,
      messages: [{ id: 1, message: body }],
    });
    expect(await read('laptop')).toMatchObject({ status: 200, body: { current_message: 1, messages: [] } });
  });

  it('refuses a second listen on the same client name until it is unlistened', async () => {
    const again = await call('GET', '/listen/laptop/foo', { authorization: john });
    expect(again.status).toBe(409);
    expect(await again.json()).toEqual({ message: expect.stringContaining('already listening'), refresh: false });
  });

  it('refuses a bad signature (401), an unknown queue (404) and a foreign address (403), storing nothing', async () => {
    const countOf = async () => {
      const queue = await server.core.queues.getByName(await adminPrincipal(), 'foo');
      if (!queue.ok) throw new Error(queue.error.message);
      return queue.value.messageCount;
    };
    const before = await countOf();
    const forged = await post('foo', '{"n":2}', sign('{"n":3}'));
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ message: expect.stringContaining('Verification failed'), refresh: false });
    expect((await post('nope', '{}')).status).toBe(404);
    // Correctly signed, to the queue the client listens to, but from an address whitelist_ip leaves out.
    const body = '{"n":4}';
    const foreign = await postFrom('127.0.0.2', `${server.url}/q/foo`, body, {
      'content-type': 'application/json',
      'foo-auth': sign(body),
    });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toEqual({
      message: expect.stringContaining('This address may not post'),
      refresh: false,
    });
    expect((await read('laptop')).body.messages).toEqual([]);
    expect(await countOf()).toBe(before);
  });

  it('puts clients into refresh when a message is refused as too large', async () => {
    const big = `{"pad":"${'x'.repeat(10_100)}"}`;
    const refused = await post('foo', big);
    expect(refused.status).toBe(413);
    const next = await read('laptop');
    expect(next).toEqual({ status: 200, body: { message: expect.any(String), refresh: true } });
    expect((await read('laptop')).body).toMatchObject({ messages: [] });
  });

  it('drops the oldest messages past max_message_count, and a client that missed them gets refresh', async () => {
    for (let i = 0; i < 105; i++) expect((await post('foo', `{"i":${i}}`)).status).toBe(200);
    const queue = await server.core.queues.getByName(await adminPrincipal(), 'foo');
    expect(queue.ok && queue.value.messageCount).toBe(100);
    const missed = await read('laptop');
    expect(missed.body).toEqual({ message: expect.any(String), refresh: true });
    // The cursor moved to the newest message: from here on the client reads normally.
    expect((await post('foo', '{"after":true}')).status).toBe(200);
    const after = await read('laptop');
    expect(after.body.messages).toEqual([{ id: after.body.current_message, message: '{"after":true}' }]);
  });

  it('POST /setPassword changes the password (moved to argon2id) and the old one stops working', async () => {
    const changed = await call('POST', '/setPassword', {
      authorization: john,
      body: JSON.stringify({ password: 'a-better-password' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(changed.status).toBe(200);
    expect((await read('laptop')).status).toBe(401);
    const renewed = basic('John Doe', 'a-better-password');
    expect((await read('laptop', renewed)).status).toBe(200);
    // Reloading the unchanged file keeps the new password.
    expect((await call('POST', '/reload', { authorization: admin })).status).toBe(200);
    expect((await read('laptop', renewed)).status).toBe(200);
  });

  it('POST /reload needs can_reload; a reload keeps stored messages and disconnects clients that lost access', async () => {
    const renewed = basic('John Doe', 'a-better-password');
    const denied = await call('POST', '/reload', { authorization: renewed });
    expect(denied.status).toBe(403);

    const before = await server.core.queues.getByName(await adminPrincipal(), 'foo');
    writeFileSync(
      configPath,
      JSON.stringify(readmeConfig({ johnQueues: [], extraQueues: [{ name: 'bar', whitelist_ip: ['10.0.0.1'] }] })),
    );
    expect((await call('POST', '/reload', { authorization: admin })).status).toBe(200);
    const after = await server.core.queues.getByName(await adminPrincipal(), 'foo');
    expect(after.ok && after.value.messageCount).toBe(before.ok && before.value.messageCount);

    const disconnected = await read('laptop', renewed);
    expect(disconnected.status).toBe(409);
    expect(disconnected.body).toEqual({ message: expect.stringContaining('disconnected'), refresh: false });
    expect((await call('GET', '/unlisten/laptop', { authorization: renewed })).status).toBe(200);

    // The new queue only takes posts from its listed address.
    const foreign = await call('POST', '/q/bar', { body: '{}' });
    expect(foreign.status).toBe(403);
  });

  it('a bad config file is refused whole and changes nothing', async () => {
    writeFileSync(configPath, '{"queues": [{"name": "foo", "auth": {"method": "rot13-sha9"}}], "users": 3}');
    const refused = await call('POST', '/reload', { authorization: admin });
    expect(refused.status).toBe(400);
    expect((await refused.json()).message).toMatch(/users/);
    expect((await server.core.queues.getByName(await adminPrincipal(), 'bar')).ok).toBe(true);
  });

  it('answers every route without credentials with 401 and the Error object', async () => {
    for (const [method, path] of [
      ['GET', '/read/laptop'],
      ['GET', '/listen/x/foo'],
      ['GET', '/unlisten/x'],
      ['POST', '/setPassword'],
      ['POST', '/reload'],
    ] as const) {
      const response = await call(method, path);
      expect(response.status, path).toBe(401);
      expect(await response.json()).toEqual({ message: expect.any(String), refresh: false });
    }
  });

  async function adminPrincipal() {
    const user = await server.core.users.findByUsername(ADMIN.username);
    if (!user) throw new Error('no admin');
    return { user, via: 'password' as const, scopes: ['admin' as const] };
  }
});
