import { randomBytes } from 'node:crypto';
import { MAX_READ_BYTES, scopesForRole, systemPrincipal } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderedLengthBound } from '../../../packages/core/src/queues/page-bound.ts';
import { ADMIN, basic, gql, startTestServer, type TestServer, uniqueName } from './harness.ts';

/**
 * `GET /read/:client` pages are bounded by bytes as well as by count, and a client's cursor moves
 * only once its page has been produced.
 */
describe('reading a client', () => {
  let server: TestServer;
  const authorization = basic(ADMIN.username, ADMIN.password);
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  async function queueWithClient() {
    const queue = uniqueName('q');
    const created = await server.core.queues.create(systemPrincipal, { name: queue });
    if (!created.ok) throw new Error(created.error.message);
    const client = uniqueName('c');
    const listen = await fetch(`${server.url}/listen/${client}/${queue}`, { headers: { authorization } });
    expect(listen.status).toBe(200);
    const post = async (body: Uint8Array<ArrayBuffer>) => {
      const answer = await fetch(`${server.url}/q/${queue}`, { method: 'POST', body });
      expect(answer.status).toBe(200);
      return ((await answer.json()) as { id: number }).id;
    };
    const read = async () => {
      const answer = await fetch(`${server.url}/read/${client}`, { headers: { authorization } });
      expect(answer.status).toBe(200);
      return (await answer.json()) as { current_message: number; messages: Array<{ id: number; message: string }> };
    };
    return { queue, client, post, read };
  }

  async function admin() {
    const user = await server.core.users.findByUsername(ADMIN.username);
    if (!user) throw new Error('no admin');
    return { user, via: 'password' as const, scopes: scopesForRole('admin') };
  }

  it('finding 4: a read of large messages comes in pages bounded by bytes, and none is lost', async () => {
    const { post, read } = await queueWithClient();
    const size = 5 * 1024 * 1024;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await post(new Uint8Array(size).fill(0x61 + i)));
    // The default bound is 16 MiB of bodies: three of these to a page.
    const perPage = 3;

    const seen: number[] = [];
    for (let page = 0; page < 5 && seen.length < 5; page++) {
      const answer = await read();
      expect(answer.current_message).toBe(ids[4]);
      expect(answer.messages.length).toBeGreaterThan(0);
      expect(answer.messages.length).toBeLessThanOrEqual(perPage);
      for (const m of answer.messages) {
        expect(m.message.length).toBe(size);
        seen.push(m.id);
      }
    }
    expect(seen).toEqual(ids);
    expect((await read()).messages).toEqual([]);
    expect(MAX_READ_BYTES).toBe(16 * 1024 * 1024);
  });

  it('finding 4: a page that cannot be produced leaves the cursor where it was; one message over the bound still makes a page', async () => {
    const { client, post } = await queueWithClient();
    const ids = [await post(new Uint8Array(100)), await post(new Uint8Array(100)), await post(new Uint8Array(100))];
    const principal = await admin();

    await expect(
      server.core.clients.readAndRender(principal, client, () => {
        throw new RangeError('Invalid string length');
      }),
    ).rejects.toThrow('Invalid string length');

    const seqs = (outcome: { kind: string; messages?: Array<{ seq: number }> }) =>
      outcome.messages?.map((m) => m.seq) ?? outcome.kind;
    for (const expected of ids) {
      const page = await server.core.clients.readAndRender(principal, client, seqs, { maxBytes: 50 });
      expect(page).toEqual({ ok: true, value: [expected] });
    }
    const rest = await server.core.clients.readAndRender(principal, client, seqs, { maxBytes: 50 });
    expect(rest).toEqual({ ok: true, value: [] });
  });

  it('finding 4: GraphQL pages of large messages are bounded by bytes too, and say that more follow', async () => {
    const { queue, post } = await queueWithClient();
    const size = 5 * 1024 * 1024;
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await post(new Uint8Array(size).fill(0x61 + i)));
    const page = async (range: string) => {
      const answer = await gql(
        server,
        `query($name: String!) { queue(name: $name) { messages(${range}) {
          pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { seq size } } } } }`,
        { authorization, variables: { name: queue } },
      );
      expect(answer.body.errors).toBeUndefined();
      const messages = answer.body.data?.queue.messages;
      return {
        seqs: messages.edges.map((e: { node: { seq: number } }) => e.node.seq) as number[],
        pageInfo: messages.pageInfo as { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string },
      };
    };
    const first = await page('first: 5');
    expect(first.seqs).toEqual(ids.slice(0, 3));
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = await page(`first: 5, after: "${first.pageInfo.endCursor}"`);
    expect(rest.seqs).toEqual(ids.slice(3));
    expect(rest.pageInfo.hasNextPage).toBe(false);
    const newest = await page('last: 5');
    expect(newest.seqs).toEqual(ids.slice(2));
    expect(newest.pageInfo.hasPreviousPage).toBe(true);
  });

  it('finding 4: a message whose rendering would pass the bound is skipped with a refresh, not failed at every read', async () => {
    const { client, post } = await queueWithClient();
    const principal = await admin();
    const render = (outcome: { kind: string; messages?: Array<{ seq: number }> }) =>
      outcome.kind === 'refresh' ? 'refresh' : (outcome.messages?.map((m) => m.seq) ?? []);
    // One message a page, as a body past the rendering bound always is.
    const options = { maxBytes: 50, maxRenderedChars: 500 };

    // 100 plain bytes render to 102 characters: read as usual.
    const plain = await post(new Uint8Array(100).fill(0x61));
    expect(await server.core.clients.readAndRender(principal, client, render, options)).toEqual({
      ok: true,
      value: [plain],
    });
    // 100 control bytes render to 602: dropped for their size, and the client refreshes once.
    await post(new Uint8Array(100).fill(0x01));
    const after = await post(new Uint8Array(10).fill(0x61));
    expect(await server.core.clients.readAndRender(principal, client, render, options)).toEqual({
      ok: true,
      value: 'refresh',
    });
    const next = await post(new Uint8Array(10).fill(0x62));
    expect(await server.core.clients.readAndRender(principal, client, render, options)).toEqual({
      ok: true,
      value: [next],
    });
    expect(next).toBeGreaterThan(after);
  });

  it('finding 4: the rendered length bound is never below the JSON string of the body', () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const body of [every, Buffer.from('"\\\n\u0000 ü 😀'), randomBytes(4096), Buffer.alloc(0)]) {
      expect(renderedLengthBound(body)).toBeGreaterThanOrEqual(JSON.stringify(body.toString('utf8')).length);
    }
    const ascii = Buffer.from(Array.from({ length: 128 }, (_, i) => i));
    expect(renderedLengthBound(ascii)).toBe(JSON.stringify(ascii.toString('utf8')).length);
  });
});
