import { isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from '@switchboard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const DATABASE_UNAVAILABLE_MESSAGE = 'The database is unavailable; try again shortly';

/**
 * Whether a request failed because the database could not be reached or did not answer in time.
 * Such a request is answered 503 with Retry-After: it was not acknowledged, and the same request
 * sent again once the database is back succeeds.
 */
export { isDatabaseUnavailable };

/** 503 with Retry-After, in the shape of the route's own errors (GraphQL or REST). */
export function sendDatabaseUnavailable(request: FastifyRequest, reply: FastifyReply) {
  request.log.warn({ route: request.routeOptions.url }, 'request refused: the database is unavailable');
  reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
  if (request.url.split('?')[0] === '/graphql') {
    return reply
      .code(503)
      .send({ errors: [{ message: DATABASE_UNAVAILABLE_MESSAGE, extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
  }
  return reply.code(503).send({ error: DATABASE_UNAVAILABLE_MESSAGE });
}
