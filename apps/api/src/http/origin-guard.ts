import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { readCookie, SESSION_COOKIE } from './authenticate.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A GET that changes something (the Webhook Queue's read, listen and unlisten): guarded like a
     * POST, since another site's `<img>` or link sends it with the credentials the browser holds.
     */
    stateChanging?: boolean;
  }
}

/**
 * Which browser origins may act with a user's ambient credentials (the session cookie, or Basic
 * credentials the browser remembers): the server's own, and those listed in CORS_ALLOWED_ORIGINS.
 */
export interface OriginPolicy {
  /** Listed in CORS_ALLOWED_ORIGINS: such an origin gets credentialed CORS. */
  isListed(origin: string): boolean;
  /** Listed, or the origin of the host the request was sent to (see {@link ownHost}). */
  isTrusted(origin: string, request: IncomingMessage): boolean;
}

/** `listed` from CORS_ALLOWED_ORIGINS; `trustedProxies` (TRUSTED_PROXIES, CIDRs) may name the public host. */
export function createOriginPolicy(listed: readonly string[], trustedProxies: readonly string[]): OriginPolicy {
  const allowed = new Set(listed);
  const proxies = new BlockList();
  for (const cidr of trustedProxies) {
    const [network = '', prefix = ''] = cidr.split('/');
    proxies.addSubnet(network, Number(prefix), isIPv6(network) ? 'ipv6' : 'ipv4');
  }
  return {
    isListed: (origin) => allowed.has(origin),
    isTrusted: (origin, request) => allowed.has(origin) || isSameHost(origin, ownHost(request, proxies)),
  };
}

/**
 * The host the browser sent the request to, for HTTP and WebSocket alike, decided as Fastify's
 * trustProxy decides `request.host`: X-Forwarded-Host when the peer is one of TRUSTED_PROXIES, the
 * Host header otherwise. X-Forwarded-Proto is not needed, since schemes are not compared (see
 * isSameHost). A proxy that rewrites Host and sends no X-Forwarded-Host hides the public host: its
 * origin must then be listed in CORS_ALLOWED_ORIGINS.
 */
function ownHost(request: IncomingMessage, trustedProxies: BlockList): string | undefined {
  const forwarded = request.headers['x-forwarded-host'];
  const peer = request.socket.remoteAddress;
  if (forwarded && peer && trustedProxies.check(peer, isIPv6(peer) ? 'ipv6' : 'ipv4')) {
    // A proxy appends to what its client sent: only the last entry is the proxy's own.
    const last = Array.isArray(forwarded) ? forwarded.at(-1) : forwarded;
    return last?.slice(last.lastIndexOf(',') + 1).trim();
  }
  return request.headers.host;
}

/**
 * The scheme is not compared: TLS often ends at a proxy, so a page served over https reaches this
 * process over http, and only the host (with its port) tells the server's own pages apart.
 */
function isSameHost(origin: string, requestHost: string | undefined): boolean {
  if (!requestHost) return false;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
    // Parsed with the origin's scheme, so that an explicit default port (`host:443`) compares equal.
    return new URL(`${url.protocol}//${requestHost}`).host === url.host;
  } catch {
    return false;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Credentials a browser attaches on its own to a request another site's page makes. */
function carriesAmbientCredentials(headers: IncomingHttpHeaders): boolean {
  if (/^\s*basic\b/i.test(headers.authorization ?? '')) return true;
  return readCookie(headers.cookie, SESSION_COOKIE) !== undefined;
}

/**
 * Whether a request that arrived with ambient credentials may have been made by a page of another
 * site: its Origin is present and neither ours nor listed, or (with no Origin) the browser says it
 * is cross-site. Requests without Origin and without Sec-Fetch-Site (curl, SDKs, the Webhook
 * Queue's clients) are not browsers' and pass.
 */
export function isForeignBrowserRequest(policy: OriginPolicy, request: IncomingMessage): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return request.headers['sec-fetch-site'] === 'cross-site';
  return !policy.isTrusted(origin, request);
}

const REFUSAL =
  'Cross-origin request refused: a session cookie or Basic credentials may only be used from this ' +
  "server's own pages or an origin listed in CORS_ALLOWED_ORIGINS. Programs should send no Origin " +
  'header, or use a Bearer token.';

/**
 * Refuses, with 403, every state-changing request that carries ambient credentials and comes from
 * a foreign page, whatever route it is for, before any route reads its body: every method but
 * GET, HEAD and OPTIONS, and the GET (and HEAD) routes marked `config: { stateChanging: true }`.
 * A Bearer token is never attached by a browser on its own, so requests that carry one are left
 * to the routes.
 */
export function registerOriginGuard(app: FastifyInstance, policy: OriginPolicy, graphqlEndpoint: string): void {
  app.addHook('onRequest', async (request, reply) => {
    if (SAFE_METHODS.has(request.method) && !request.routeOptions.config.stateChanging) return;
    if (!carriesAmbientCredentials(request.headers)) return;
    if (!isForeignBrowserRequest(policy, request.raw)) return;
    request.log.info(
      { origin: request.headers.origin?.slice(0, 200), method: request.method, path: request.url.split('?')[0] },
      'cross-origin request with credentials refused',
    );
    reply.code(403);
    if (request.url.split('?')[0] === graphqlEndpoint) {
      return reply.send({ errors: [{ message: REFUSAL, extensions: { code: 'FORBIDDEN' } }] });
    }
    return reply.send({ error: REFUSAL });
  });
}
