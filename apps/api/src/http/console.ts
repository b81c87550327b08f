import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** apps/console/out, beside this package. */
export function defaultConsoleDir(): string {
  return fileURLToPath(new URL('../../../console/out', import.meta.url));
}

/**
 * What a browser gets for the console's pages: no framing by other sites, no MIME sniffing, and
 * scripts, styles and connections from this origin only (the WebSocket included). The export
 * inlines its bootstrap scripts and styles, hence 'unsafe-inline'.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
};

/** A browser navigating: a GET that asks for HTML. */
export function wantsPage(request: FastifyRequest): boolean {
  return request.method === 'GET' && (request.headers.accept ?? '').includes('text/html');
}

/**
 * Serves the console's static export at `/` beside the API, on the same origin, so that the
 * session cookie and the API's origin checks work unchanged. The API's own routes win over the
 * console's files; a path that is neither gets the API's JSON 404, or the console's 404 page when
 * a browser asks for a page. Without a build, `/` says how to make one.
 */
export async function registerConsole(
  app: FastifyInstance,
  dir: string,
): Promise<{ notFound(request: FastifyRequest, reply: FastifyReply): boolean }> {
  if (!existsSync(join(dir, 'index.html'))) {
    app.get('/', async (_request, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send(
          'The console is not built. Run `npm run build -w @switchboard/console` (npm start does it for you), then reload.\n' +
            'The API is at /graphql.\n',
        ),
    );
    return { notFound: () => false };
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    index: ['index.html'],
    redirect: true,
    dotfiles: 'ignore',
    etag: true,
    lastModified: true,
    setHeaders(res, path) {
      if (path.includes(`${join('_next', 'static')}`)) {
        // Named by their content: a new build makes new names.
        res.header('cache-control', 'public, max-age=31536000, immutable');
      } else {
        res.header('cache-control', 'no-cache');
      }
      if (path.endsWith('.html')) for (const [name, value] of Object.entries(PAGE_HEADERS)) res.header(name, value);
    },
  });
  const notFoundPage = existsSync(join(dir, '404.html')) ? readFileSync(join(dir, '404.html')) : null;
  return {
    notFound(request, reply) {
      if (!notFoundPage || !wantsPage(request)) return false;
      void reply.code(404).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(notFoundPage);
      return true;
    },
  };
}
