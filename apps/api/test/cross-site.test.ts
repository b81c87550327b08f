import { systemPrincipal } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvError, loadEnv } from '../src/env.ts';
import { connectWithCookie, loginCookie } from './cross-site-fixtures.ts';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer, uniqueName } from './harness.ts';

const LISTED = 'https://console.example.com';
const FOREIGN = 'https://evil.example';

/** Every CORS header of a response, by lower-case name. */
function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));
}

const createQueueMutation = (name: string) => `mutation { createQueue(input: {name: "${name}"}) { __typename } }`;

async function queueExists(server: TestServer, name: string): Promise<boolean> {
  return (await server.core.queues.getByName(systemPrincipal, name)).ok;
}

async function ingest(server: TestServer, queue: string, body: string): Promise<void> {
  const response = await fetch(`${server.url}/q/${queue}`, { method: 'POST', body });
  if (response.status !== 200) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
}

describe('finding 5: cross-site requests', () => {
  let listed: TestServer;
  let plain: TestServer;
  let cookie: string;
  beforeAll(async () => {
    listed = await startTestServer({ env: { CORS_ALLOWED_ORIGINS: `${LISTED}, https://ops.example.com:8443` } });
    plain = await startTestServer();
    cookie = await loginCookie(listed);
  });
  afterAll(async () => {
    await listed?.close();
    await plain?.close();
  });

  it('finding 5: CORS_ALLOWED_ORIGINS takes exact origins and names a bad entry', () => {
    expect(loadEnv({}).CORS_ALLOWED_ORIGINS).toEqual([]);
    expect(
      loadEnv({ CORS_ALLOWED_ORIGINS: ' https://a.example , http://b.example:8080' }).CORS_ALLOWED_ORIGINS,
    ).toEqual(['https://a.example', 'http://b.example:8080']);
    for (const bad of ['https://a.example/', '*', 'a.example', 'https://a.example/console', 'ftp://a.example']) {
      let error: unknown;
      try {
        loadEnv({ CORS_ALLOWED_ORIGINS: bad });
      } catch (caught) {
        error = caught;
      }
      expect(error, bad).toBeInstanceOf(EnvError);
      expect((error as EnvError).problems.join('\n')).toMatch(/^CORS_ALLOWED_ORIGINS: .*origin such as https:\/\//);
    }
  });

  it('finding 5: credentialed CORS only for listed origins; unlisted ones get no CORS headers at all', async () => {
    const preflight = (server: TestServer, origin: string) =>
      fetch(`${server.url}/graphql`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });

    for (const [server, origin] of [
      [listed, FOREIGN],
      [listed, 'https://console.example.com.evil.example'],
      [plain, FOREIGN],
      [plain, LISTED],
    ] as const) {
      const response = await preflight(server, origin);
      expect(corsHeaders(response), `preflight from ${origin}`).toEqual({});
      const query = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(query.status).toBe(200);
      expect(corsHeaders(query), `POST from ${origin}`).toEqual({});
    }

    for (const origin of [LISTED, 'https://ops.example.com:8443']) {
      const response = await preflight(listed, origin);
      expect(response.status).toBe(204);
      const headers = corsHeaders(response);
      expect(headers['access-control-allow-origin']).toBe(origin);
      expect(headers['access-control-allow-credentials']).toBe('true');
      expect(headers['access-control-allow-methods']).toContain('POST');
      expect(headers['access-control-allow-headers']?.toLowerCase()).toContain('content-type');
      expect(response.headers.get('vary')).toContain('Origin');
    }
    const query = await fetch(`${listed.url}/graphql`, {
      method: 'POST',
      headers: { origin: LISTED, 'content-type': 'application/json', cookie },
      body: JSON.stringify({ query: '{ me { username } }' }),
    });
    expect(await query.json()).toEqual({ data: { me: { username: ADMIN.username } } });
    expect(corsHeaders(query)['access-control-allow-origin']).toBe(LISTED);
    expect(corsHeaders(query)['access-control-allow-credentials']).toBe('true');
  });

  it('finding 5: GraphQL refuses operations sent as form, multipart or text/plain, and mutations over GET', async () => {
    const name = uniqueName('csrf');
    const mutation = createQueueMutation(name);
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: mutation }));
    form.set('map', '{}');
    const attempts: Array<{ label: string; init: RequestInit; url?: string }> = [
      {
        label: 'form-encoded',
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
          body: new URLSearchParams({ query: mutation }).toString(),
        },
      },
      { label: 'multipart', init: { method: 'POST', headers: { cookie }, body: form } },
      {
        label: 'text/plain',
        init: {
          method: 'POST',
          headers: { 'content-type': 'text/plain', cookie },
          body: JSON.stringify({ query: mutation }),
        },
      },
      {
        label: 'form-encoded with Basic',
        init: {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: basic(ADMIN.username, ADMIN.password),
          },
          body: new URLSearchParams({ query: mutation }).toString(),
        },
      },
    ];
    for (const { label, init } of attempts) {
      const response = await fetch(`${listed.url}/graphql`, init);
      expect(response.status, label).toBe(403);
      const body = (await response.json()) as { errors?: Array<{ message: string }> };
      expect(body.errors?.[0]?.message, label).toMatch(/application\/json/);
    }
    const overGet = await fetch(`${listed.url}/graphql?${new URLSearchParams({ query: mutation })}`, {
      headers: { cookie },
    });
    expect(overGet.status).toBe(405);
    expect(await queueExists(listed, name)).toBe(false);

    // Reads over GET and JSON POSTs (what every client sends) keep working.
    const read = await fetch(`${listed.url}/graphql?${new URLSearchParams({ query: '{ me { username } }' })}`, {
      headers: { cookie },
    });
    expect(await read.json()).toEqual({ data: { me: { username: ADMIN.username } } });
    const json = await gql(listed, mutation, { cookie });
    expect(json.body).toEqual({ data: { createQueue: { __typename: 'CreateQueueSuccess' } } });
    expect(await queueExists(listed, name)).toBe(true);
  });

  it('finding 5: a state-changing request with cookie or Basic from a foreign Origin is refused with 403', async () => {
    const member = await factories(listed.core).user();
    const setPassword = (headers: Record<string, string>, newPassword: string) =>
      fetch(`${listed.url}/setPassword`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: member.authorization, ...headers },
        body: newPassword,
      });
    const passwordWorks = async (password: string) =>
      (await listed.core.auth.verifyCredentials(member.user.username, password, {})).ok;

    const foreignHeaders: Array<Record<string, string>> = [
      { origin: FOREIGN },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of foreignHeaders) {
      const refused = await setPassword(headers, 'hijacked-password');
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      const body = (await refused.json()) as { error?: string };
      expect(body.error).toMatch(/CORS_ALLOWED_ORIGINS/);
    }
    expect(await passwordWorks('hijacked-password')).toBe(false);
    expect(await passwordWorks(member.password)).toBe(true);

    // No Origin (curl, the Webhook Queue's clients) and the server's own origin keep working.
    expect((await setPassword({}, 'second-password-1')).status).toBe(200);
    expect(await passwordWorks('second-password-1')).toBe(true);

    const name = uniqueName('origin');
    const graphql = (headers: Record<string, string>) =>
      fetch(`${listed.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: createQueueMutation(name) }),
      });
    const foreign = await graphql({ origin: FOREIGN, cookie });
    expect(foreign.status).toBe(403);
    expect(await queueExists(listed, name)).toBe(false);
    expect((await graphql({ origin: FOREIGN, authorization: basic(ADMIN.username, ADMIN.password) })).status).toBe(403);
    expect(await queueExists(listed, name)).toBe(false);

    // A Bearer token is never sent by a browser on its own, so its origin does not matter.
    const token = await (await factories(listed.core).user()).token(['queues:read']);
    const withToken = await fetch(`${listed.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: FOREIGN, authorization: token.authorization },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(withToken.status).toBe(200);

    expect((await graphql({ origin: listed.url, cookie })).status).toBe(200);
    expect(await queueExists(listed, name)).toBe(true);
    const again = uniqueName('origin');
    const fromListed = await fetch(`${listed.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: LISTED, cookie },
      body: JSON.stringify({ query: createQueueMutation(again) }),
    });
    expect(fromListed.status).toBe(200);
    expect(await queueExists(listed, again)).toBe(true);
  });

  it('finding 5: a WebSocket from a foreign origin cannot use the session cookie', async () => {
    expect(await connectWithCookie(listed, cookie, { origin: FOREIGN })).toBe(4403);
    expect(await connectWithCookie(listed, cookie, { origin: listed.url })).toBe('ack');
    expect(await connectWithCookie(listed, cookie, { origin: LISTED })).toBe('ack');
    expect(await connectWithCookie(listed, cookie)).toBe('ack');
  });

  it("finding 5: /setPassword works from the server's own origin and is refused from a foreign one", async () => {
    const member = await factories(plain.core).user();
    const setPassword = (origin: string, newPassword: string) =>
      fetch(`${plain.url}/setPassword`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: member.authorization, origin },
        body: newPassword,
      });
    const passwordWorks = async (password: string) =>
      (await plain.core.auth.verifyCredentials(member.user.username, password, {})).ok;

    expect((await setPassword(FOREIGN, 'foreign-password-1')).status).toBe(403);
    expect(await passwordWorks('foreign-password-1')).toBe(false);
    expect((await setPassword(plain.url, 'own-origin-password-1')).status).toBe(200);
    expect(await passwordWorks('own-origin-password-1')).toBe(true);
  });

  it('finding 5: a cross-site GET that moves a cursor, listens or unlistens is refused and changes nothing', async () => {
    const queue = uniqueName('cursor');
    const created = await listed.core.queues.create(systemPrincipal, { name: queue });
    if (!created.ok) throw new Error(created.error.message);
    const client = uniqueName('reader');
    const authorization = basic(ADMIN.username, ADMIN.password);
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
      fetch(`${listed.url}${path}`, { method, headers: { authorization, ...headers } });
    // What an <img> or a link on another site sends: no Origin, Sec-Fetch-Site: cross-site.
    const crossSite = { 'sec-fetch-site': 'cross-site' };

    expect((await get(`/listen/${client}/${queue}`, crossSite)).status).toBe(403);
    expect((await get(`/listen/${client}/${queue}`, { origin: FOREIGN })).status).toBe(403);
    expect((await get(`/listen/${client}/${queue}`)).status).toBe(200);

    await ingest(listed, queue, 'first');
    const refused = await get(`/read/${client}`, crossSite);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error?: string }).error).toMatch(/CORS_ALLOWED_ORIGINS/);
    expect((await get(`/read/${client}`, crossSite, 'HEAD')).status).toBe(403);
    // The cursor did not move: the server's own pages still read the message.
    const own = await get(`/read/${client}`, { origin: listed.url, 'sec-fetch-site': 'same-origin' });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ messages: [{ message: 'first' }] });
    await ingest(listed, queue, 'second');
    const noOrigin = await get(`/read/${client}`);
    expect(await noOrigin.json()).toMatchObject({ messages: [{ message: 'second' }] });

    expect((await get(`/unlisten/${client}`, crossSite)).status).toBe(403);
    // Still listening: a second listen is refused until the client is unlistened.
    expect((await get(`/listen/${client}/${queue}`)).status).toBe(409);
    expect((await get(`/unlisten/${client}`)).status).toBe(200);

    // GETs that change nothing stay open to any page.
    expect((await fetch(`${listed.url}/time`, { headers: crossSite })).status).toBe(200);
  });
});
