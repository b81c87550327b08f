import { UNAVAILABLE_RETRY_AFTER_SECONDS } from '@switchboard/core';
import type { DatabaseClient } from '@switchboard/db';
import type { FastifyInstance } from 'fastify';

const READY_TIMEOUT_MS = 2_000;

/**
 * `/healthz`: the process runs (it never touches the database, so that it answers whatever the
 * database does). `/readyz`: requests can be served now. It says ready only when the database
 * client sees the database as available and a query through the same pool that requests use
 * answers, so it never says ready while requests would still get 503.
 */
export function registerHealthRoutes(app: FastifyInstance, database: DatabaseClient): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!database.available) throw new Error('the database does not answer');
      await Promise.race([
        database.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), READY_TIMEOUT_MS);
        }),
      ]);
      return { status: 'ready', database: 'ok' };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
      return reply.code(503).send({ status: 'unavailable', database: 'unreachable' });
    } finally {
      clearTimeout(timer);
    }
  });
}
