import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWithCookie, loginCookie, send } from './cross-site-fixtures.ts';
import { startTestServer, type TestServer } from './harness.ts';

const PUBLIC = 'https://sb.example.com';
/** The Host a proxy's plain `proxy_pass http://switchboard:4000` sends in place of the browser's. */
const UPSTREAM = 'switchboard:4000';

/** What a request with the session cookie and these headers gets over HTTP (a POST) and over WebSocket. */
async function outcomes(server: TestServer, cookie: string, headers: Record<string, string>) {
  const http = await send(server, '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, ...headers },
    body: JSON.stringify({ query: '{ me { username } }' }),
  });
  return { http: http.status, ws: await connectWithCookie(server, cookie, headers) };
}

const ACCEPTED = { http: 200, ws: 'ack' };
const REFUSED = { http: 403, ws: 4403 };

describe('finding 5: cross-site requests behind a proxy', () => {
  let trusting: TestServer;
  let listing: TestServer;
  let trustingCookie: string;
  let listingCookie: string;
  beforeAll(async () => {
    // The tests reach the servers from 127.0.0.1, as a proxy on the same machine would.
    trusting = await startTestServer({ env: { TRUSTED_PROXIES: '127.0.0.1/32' } });
    listing = await startTestServer({ env: { CORS_ALLOWED_ORIGINS: PUBLIC } });
    trustingCookie = await loginCookie(trusting);
    listingCookie = await loginCookie(listing);
  });
  afterAll(async () => {
    await trusting?.close();
    await listing?.close();
  });

  it('finding 5: HTTP and WebSocket take X-Forwarded-Host from a trusted proxy as the own origin alike', async () => {
    const forwarded = { host: UPSTREAM, 'x-forwarded-host': 'sb.example.com', 'x-forwarded-proto': 'https' };
    expect(await outcomes(trusting, trustingCookie, { ...forwarded, origin: PUBLIC })).toEqual(ACCEPTED);
    // A proxy appends to what the client sent: the last entry is the one the proxy vouches for.
    const appended = { ...forwarded, 'x-forwarded-host': 'evil.example, sb.example.com' };
    expect(await outcomes(trusting, trustingCookie, { ...appended, origin: PUBLIC })).toEqual(ACCEPTED);
    expect(await outcomes(trusting, trustingCookie, { ...appended, origin: 'https://evil.example' })).toEqual(REFUSED);
    expect(await outcomes(trusting, trustingCookie, { ...forwarded, origin: 'https://evil.example' })).toEqual(REFUSED);
    // Without X-Forwarded-Host the rewritten Host is all there is, and the public origin is foreign.
    expect(await outcomes(trusting, trustingCookie, { host: UPSTREAM, origin: PUBLIC })).toEqual(REFUSED);
  });

  it('finding 5: X-Forwarded-Host from an untrusted peer is ignored; a listed origin passes a rewritten Host', async () => {
    const spoofed = { 'x-forwarded-host': 'evil.example', origin: 'https://evil.example' };
    expect(await outcomes(listing, listingCookie, spoofed)).toEqual(REFUSED);
    expect(await outcomes(listing, listingCookie, { host: UPSTREAM, origin: PUBLIC })).toEqual(ACCEPTED);
    expect(await outcomes(listing, listingCookie, { host: UPSTREAM, origin: 'https://other.example' })).toEqual(
      REFUSED,
    );
    expect(await outcomes(listing, listingCookie, { host: UPSTREAM })).toEqual(ACCEPTED);
  });
});
