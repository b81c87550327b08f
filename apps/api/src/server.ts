import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { Core } from '@switchboard/core';
import type { DatabaseClient } from '@switchboard/db';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Env } from './env.ts';
import type { SessionCookieWriter } from './graphql/context.ts';
import { createGraphQLWebSocketServer } from './graphql/ws.ts';
import { createSwitchboardYoga, GRAPHQL_ENDPOINT } from './graphql/yoga.ts';
import { authenticateCredentials, SESSION_COOKIE } from './http/authenticate.ts';
import { registerWebhookServiceRoutes } from './http/compat/webhook-as-a-service.ts';
import { registerWebhookQueueRoutes } from './http/compat/webhook-queue.ts';
import { registerWebhookTestRoutes } from './http/compat/webhook-test.ts';
import { capConnections } from './http/connection-cap.ts';
import { defaultConsoleDir, registerConsole, wantsPage } from './http/console.ts';
import { registerEventRoutes } from './http/events.ts';
import { registerHealthRoutes } from './http/health.ts';
import { registerIngestRoutes } from './http/ingest.ts';
import { registerInputGuard } from './http/input-guard.ts';
import { registerJobRoutes } from './http/jobs.ts';
import { registerMetrics } from './http/metrics.ts';
import { createOriginPolicy, registerOriginGuard } from './http/origin-guard.ts';
import { isDatabaseUnavailable, sendDatabaseUnavailable } from './http/unavailable.ts';

export interface ServerDeps {
  core: Core;
  database: DatabaseClient;
  env: Pick<
    Env,
    | 'COOKIE_SECURE'
    | 'TRUSTED_PROXIES'
    | 'INGEST_MAX_BODY_BYTES'
    | 'CORS_ALLOWED_ORIGINS'
    | 'REQUEST_TIMEOUT_MS'
    | 'MAX_CONNECTIONS'
    | 'WS_MAX_OPERATIONS_PER_SOCKET'
    | 'GRAPHQL_INTROSPECTION'
  >;
  logger: Logger;
  /** `worker` processes serve only health and metrics. */
  role?: Env['ROLE'];
  /** Reported by the Webhook Queue's `GET /time`. */
  startedAt?: Date;
  /** Metrics of this process; the delivery worker's are registered in it already. */
  metrics?: Registry;
  /** The console's static export (apps/console/out unless given). */
  consoleDir?: string;
}

const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;

function rewriteQueuePath(core: Core, url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (path.startsWith('/q/') || path === '/') return url;
  const queue = core.registry.byPath(path);
  return queue ? `/q/${encodeURIComponent(queue.name)}${query === -1 ? '' : url.slice(query)}` : url;
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { core, database, logger } = deps;
  const requestTimeout = deps.env.REQUEST_TIMEOUT_MS;
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    requestIdHeader: false,
    // A caller's request id is kept when it is sane, so that logs line up across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    // A client has REQUEST_TIMEOUT_MS to send a whole request, body included, or gets 408: a
    // body trickled byte by byte no longer holds a socket and a parser forever. Node checks on an
    // interval; a quarter of the timeout keeps the overshoot small. Once a request is in, the
    // answer may take as long as it needs (streams, upgraded WebSockets are not limited).
    requestTimeout,
    http: {
      requestTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeout / 4))),
    },
    // The client address comes from the socket, unless the request came through a trusted proxy.
    trustProxy: deps.env.TRUSTED_PROXIES.length > 0 ? deps.env.TRUSTED_PROXIES : false,
    // A queue served at its own path (webhook-proxy's `/github`) is ingested as `/q/:name`; the
    // request keeps its original URL for the queue's templates. Queues cannot take the server's
    // own paths (RESERVED_PATHS in core's queue-definition.ts).
    rewriteUrl: (req) => rewriteQueuePath(core, req.url ?? '/'),
  });

  capConnections(app.server, deps.env.MAX_CONNECTIONS, logger);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  const origins = createOriginPolicy(deps.env.CORS_ALLOWED_ORIGINS, deps.env.TRUSTED_PROXIES);
  registerOriginGuard(app, origins, GRAPHQL_ENDPOINT);

  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (isDatabaseUnavailable(error)) return sendDatabaseUnavailable(request, reply);
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ error: 'Internal error', requestId: request.id });
    }
    return reply.code(status).send({ error: error.message });
  });
  let consolePages: Awaited<ReturnType<typeof registerConsole>> | undefined;
  app.setNotFoundHandler((request, reply) => {
    if (consolePages?.notFound(request, reply)) return reply;
    return reply.code(404).send({ error: `No route for ${request.method} ${request.url.split('?')[0]}` });
  });

  await app.register(fastifyCookie);
  // Forms are read as text; the routes that take them parse what they need.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  );
  registerInputGuard(app);
  registerMetrics(app, deps.metrics);
  registerHealthRoutes(app, database);
  if (deps.role === 'worker') return app;
  await registerIngestRoutes(app, core, deps.env.INGEST_MAX_BODY_BYTES);
  await registerWebhookQueueRoutes(app, core, deps.startedAt ?? new Date());
  registerEventRoutes(app, core);
  registerJobRoutes(app, core);
  await registerWebhookServiceRoutes(app, core);
  registerWebhookTestRoutes(app, core);

  const yoga = createSwitchboardYoga(core, logger, { origins, introspection: deps.env.GRAPHQL_INTROSPECTION });
  await app.register(async (graphql) => {
    // Yoga parses GraphQL-over-HTTP bodies itself (and refuses forms, see graphql/csrf-prevention.ts)
    // and must see the bytes as sent, so here every body is read raw, within the body limit.
    graphql.removeAllContentTypeParsers();
    graphql.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    graphql.route({
      url: yoga.graphqlEndpoint,
      method: ['GET', 'POST', 'OPTIONS'],
      handler: async (request, reply) => {
        const outcome = await authenticateCredentials(core, {
          authorization: request.headers.authorization,
          sessionToken: request.cookies[SESSION_COOKIE],
          ip: request.ip,
          userAgent: request.headers['user-agent'],
        });
        if (outcome.kind === 'refused') return sendRefusal(reply, outcome);
        // A signed-out browser opening /graphql is sent to sign in, then back to GraphiQL.
        if (outcome.kind !== 'authenticated' && wantsPage(request) && !('query' in (request.query as object))) {
          return reply.redirect(`/login/?next=${encodeURIComponent(yoga.graphqlEndpoint)}`);
        }
        const sessionCookie = createSessionCookieWriter(request, reply, deps.env.COOKIE_SECURE);
        const renewedUntil = outcome.kind === 'authenticated' ? outcome.principal.sessionRenewedUntil : undefined;
        const presented = request.cookies[SESSION_COOKIE];
        // The cookie follows the session's sliding expiry, or the browser would drop it first.
        if (renewedUntil && presented) sessionCookie.set(presented, renewedUntil);
        const response = await yoga.fetch(toFetchRequest(request), {
          req: request,
          reply,
          principal: outcome.kind === 'authenticated' ? outcome.principal : null,
          client: { ip: request.ip, userAgent: request.headers['user-agent'] },
          sessionCookie,
        });
        // Through Fastify's reply, so that its hooks (cookies, request id, metrics) see the response.
        for (const [key, value] of response.headers) reply.header(key, value);
        // CORS headers depend on the Origin, so no cache may give one origin's answer to another.
        const vary = response.headers.get('vary');
        if (!vary?.toLowerCase().includes('origin')) reply.header('vary', vary ? `${vary}, Origin` : 'Origin');
        reply.code(response.status);
        return reply.send(response.body ? Buffer.from(await response.arrayBuffer()) : null);
      },
    });
  });

  consolePages = await registerConsole(app, deps.consoleDir ?? defaultConsoleDir());

  const websockets = createGraphQLWebSocketServer(yoga, core, logger, {
    origins,
    maxOperationsPerSocket: deps.env.WS_MAX_OPERATIONS_PER_SOCKET,
  });
  app.server.on('upgrade', (request, socket, head) => {
    const path = request.url?.split('?')[0];
    if (path !== yoga.graphqlEndpoint) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    websockets.wss.handleUpgrade(request, socket, head, (ws) => websockets.wss.emit('connection', ws, request));
  });
  app.addHook('preClose', async () => {
    await websockets.close();
  });

  return app;
}

function createSessionCookieWriter(
  request: FastifyRequest,
  reply: FastifyReply,
  secureSetting: Env['COOKIE_SECURE'],
): SessionCookieWriter {
  const secure = secureSetting === 'auto' ? request.protocol === 'https' : secureSetting === 'true';
  const base = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure };
  return {
    set: (token, expiresAt) => void reply.setCookie(SESSION_COOKIE, token, { ...base, expires: expiresAt }),
    clear: () => void reply.clearCookie(SESSION_COOKIE, base),
  };
}

function toFetchRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const body = hasBody ? new Uint8Array((request.body as Buffer | undefined) ?? Buffer.alloc(0)) : undefined;
  return new Request(`${request.protocol}://${request.host}${request.url}`, {
    method: request.method,
    headers,
    body,
  });
}

function sendRefusal(reply: FastifyReply, outcome: { status: 401 | 429; message: string; retryAfterSeconds?: number }) {
  if (outcome.status === 401) reply.header('www-authenticate', 'Basic realm="switchboard", charset="UTF-8"');
  if (outcome.retryAfterSeconds) reply.header('retry-after', String(outcome.retryAfterSeconds));
  const code = outcome.status === 401 ? 'UNAUTHENTICATED' : 'RATE_LIMITED';
  return reply.code(outcome.status).send({ errors: [{ message: outcome.message, extensions: { code } }] });
}
