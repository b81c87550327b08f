import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scopesForRole } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderedLengthBound } from '../../../packages/core/src/queues/page-bound.ts';
import { basic, startTestServer, type TestServer } from './harness.ts';

/** The sample configuration of the Webhook Queue's README, as it stands (less its JS comments). */
const readmeConfig = {
  listen_host: '0.0.0.0',
  listen_port: 8080,
  users: [{ name: 'John Doe', pass_hash: 'plain;;insecure', can_reload: false, queues: ['foo'] }],
  queues: [
    {
      name: 'foo',
      whitelist_ip: ['127.0.0.1'],
      auth: { method: 'hmac-sha256', key: '12345', header_name: 'Foo-Auth' },
    },
  ],
  max_message_count: 100,
  max_message_size: 10000,
  max_queue_size: 500000,
};

const john = basic('John Doe', 'insecure');

interface MessageList {
  time: string;
  current_message: number;
  messages: Array<{ id: number; message: string; message_base64?: string }>;
}

describe("the Webhook Queue's /read with bodies that are not UTF-8", () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-wq-binary-'));
  const configPath = join(dir, 'config.json');
  let server: TestServer;

  const post = async (body: Uint8Array<ArrayBuffer>) => {
    const signature = createHmac('sha256', '12345').update(body).digest('hex');
    const answer = await fetch(`${server.url}/q/foo`, { method: 'POST', body, headers: { 'foo-auth': signature } });
    expect(answer.status).toBe(200);
    return ((await answer.json()) as { id: number }).id;
  };
  const read = async (client: string): Promise<MessageList> => {
    const answer = await fetch(`${server.url}/read/${client}`, { headers: { authorization: john } });
    expect(answer.status).toBe(200);
    return (await answer.json()) as MessageList;
  };
  const listen = async (client: string) => {
    const answer = await fetch(`${server.url}/listen/${client}/foo`, { headers: { authorization: john } });
    expect(answer.status).toBe(200);
  };

  beforeAll(async () => {
    writeFileSync(configPath, JSON.stringify(readmeConfig));
    server = await startTestServer({ env: { SWITCHBOARD_CONFIG: configPath } });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('seed 000: a binary body comes back from /read with message_base64 holding its exact bytes; text bodies have no such field', async () => {
    await listen('laptop');
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const json = Buffer.from('{"event":"push","n":1}');
    const multiByte = Buffer.from('{"name":"Zoë 😀","control":"\u0000\u001f"}');
    const ids = [await post(binary), await post(json), await post(multiByte)];

    const list = await read('laptop');
    expect(list.current_message).toBe(ids[2]);
    expect(list.messages).toEqual([
      { id: ids[0], message: binary.toString('utf8'), message_base64: binary.toString('base64') },
      { id: ids[1], message: '{"event":"push","n":1}' },
      { id: ids[2], message: '{"name":"Zoë 😀","control":"\u0000\u001f"}' },
    ]);
    const [first, second, third] = list.messages;
    expect(Buffer.from(first?.message_base64 ?? '', 'base64').equals(binary)).toBe(true);
    // `message` stays what it was: the body as text, with U+FFFD for what is not UTF-8.
    expect(first?.message).toContain('\ufffd');
    expect(second && 'message_base64' in second).toBe(false);
    expect(third && 'message_base64' in third).toBe(false);

    // Valid UTF-8 only: an encoded surrogate half or an overlong form is not text either.
    const surrogate = Buffer.from([0x7b, 0xed, 0xa0, 0x80, 0x7d]);
    const overlong = Buffer.from([0xc0, 0xaf]);
    await post(surrogate);
    await post(overlong);
    const next = await read('laptop');
    expect(next.messages.map((m) => m.message_base64)).toEqual([
      surrogate.toString('base64'),
      overlong.toString('base64'),
    ]);
  });

  it('seed 000: the rendered size bound counts message_base64, so a page alone past it is skipped with a refresh', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const body of [every, Buffer.from([0xff]), Buffer.from([0x01, 0xff, 0x22]), Buffer.from('"\\\n ü 😀')]) {
      const entry = { message: body.toString('utf8'), message_base64: body.toString('base64') };
      const rendered = body.equals(Buffer.from(entry.message, 'utf8'))
        ? JSON.stringify(entry.message).length
        : JSON.stringify(entry).length - '{"message":}'.length;
      expect(renderedLengthBound(body), body.toString('hex')).toBeGreaterThanOrEqual(rendered);
    }

    await listen('bounded');
    const user = await server.core.users.findByUsername('John Doe');
    if (!user) throw new Error('no John Doe');
    const principal = { user, via: 'password' as const, scopes: scopesForRole(user.role) };
    const render = (outcome: { kind: string; messages?: Array<{ seq: number }> }) =>
      outcome.kind === 'refresh' ? 'refresh' : (outcome.messages?.map((m) => m.seq) ?? []);
    const options = { maxBytes: 50, maxRenderedChars: 150 };

    // 100 bytes of 0xff are 102 characters as text, and 136 more as base64: past 150.
    await post(Buffer.alloc(100, 0xff));
    expect(await server.core.clients.readAndRender(principal, 'bounded', render, options)).toEqual({
      ok: true,
      value: 'refresh',
    });
    const text = await post(Buffer.alloc(100, 0x61));
    expect(await server.core.clients.readAndRender(principal, 'bounded', render, options)).toEqual({
      ok: true,
      value: [text],
    });
  });
});
