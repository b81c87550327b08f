import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, gql, startTestServer, type TestServer } from './harness.ts';

/**
 * How the API serves the console's static export beside itself: on its own origin, the API's
 * routes first, with the headers a page needs. A small export made here stands in for the real
 * one (the browser tests use the real one).
 */
describe('the console served by the API', () => {
  let server: TestServer;
  let bare: TestServer;
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-console-'));

  beforeAll(async () => {
    mkdirSync(join(dir, 'queues'), { recursive: true });
    mkdirSync(join(dir, '_next', 'static', 'chunks'), { recursive: true });
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Switchboard</title>home');
    writeFileSync(join(dir, '404.html'), '<!doctype html><title>Not found</title>no such page');
    writeFileSync(join(dir, 'queues', 'index.html'), '<!doctype html><title>Queues</title>queues page');
    writeFileSync(join(dir, '_next', 'static', 'chunks', 'app-0a1b2c.js'), 'console.log(1)');
    server = await startTestServer({ consoleDir: dir });
    bare = await startTestServer({ consoleDir: join(dir, 'missing') });
  });
  afterAll(async () => {
    await server?.close();
    await bare?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the pages at / with a same-origin content policy, no framing and no caching of pages', async () => {
    const home = await fetch(`${server.url}/`);
    expect(home.status).toBe(200);
    expect(home.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await home.text()).toContain('home');
    const policy = home.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("default-src 'self'");
    expect(policy).toContain("connect-src 'self' ws: wss:");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(home.headers.get('x-frame-options')).toBe('DENY');
    expect(home.headers.get('x-content-type-options')).toBe('nosniff');
    expect(home.headers.get('cache-control')).toBe('no-cache');

    const queues = await fetch(`${server.url}/queues/`);
    expect(await queues.text()).toContain('queues page');
    const redirected = await fetch(`${server.url}/queues`, { redirect: 'manual' });
    expect(redirected.status).toBe(301);
    expect(redirected.headers.get('location')).toBe('/queues/');

    const asset = await fetch(`${server.url}/_next/static/chunks/app-0a1b2c.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it("leaves the API's routes alone: health, GraphQL and ingest answer as before", async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const answer = await gql(server, '{ me { username } }', {
      authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`,
    });
    expect(answer.body.data).toEqual({ me: { username: ADMIN.username } });
    const ingest = await fetch(`${server.url}/q/no-such-queue`, { method: 'POST', body: '{}' });
    expect(ingest.status).toBe(404);
    expect(ingest.headers.get('content-type')).toMatch(/json/);
  });

  it('answers an unknown path with JSON for programs and with the 404 page for browsers', async () => {
    const program = await fetch(`${server.url}/no/such/thing`);
    expect(program.status).toBe(404);
    expect(await program.json()).toEqual({ error: 'No route for GET /no/such/thing' });
    const browser = await fetch(`${server.url}/no/such/thing`, { headers: { accept: 'text/html' } });
    expect(browser.status).toBe(404);
    expect(await browser.text()).toContain('no such page');
    expect(browser.headers.get('x-frame-options')).toBe('DENY');
  });

  it('sends a signed-out browser from /graphql to sign in, and gives a signed-in one GraphiQL', async () => {
    const signedOut = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(signedOut.status).toBe(302);
    expect(signedOut.headers.get('location')).toBe('/login/?next=%2Fgraphql');

    const login = await gql(
      server,
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { __typename } }',
      {
        variables: { u: ADMIN.username, p: ADMIN.password },
      },
    );
    const cookie = login.headers.get('set-cookie')?.split(';')[0] ?? '';
    expect(cookie).toMatch(/^sb_session=/);
    const signedIn = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html', cookie } });
    expect(signedIn.status).toBe(200);
    const page = await signedIn.text();
    expect(page).toContain('Switchboard GraphiQL');
    // Bundled, not fetched from a CDN the machine may not reach.
    expect(page).not.toMatch(/unpkg\.com|jsdelivr/);

    // A program asking /graphql for JSON gets the API as always, signed in or not.
    const program = await fetch(`${server.url}/graphql?query=${encodeURIComponent('{ __typename }')}`);
    expect(await program.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('says how to build the console when there is no build, and the API still works', async () => {
    const home = await fetch(`${bare.url}/`);
    expect(home.status).toBe(503);
    expect(await home.text()).toContain('npm run build -w @switchboard/console');
    expect(await (await fetch(`${bare.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });
});
