import { findNul, identifierProblem, type TextProblem } from '@switchboard/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Body fields stored as bytes (bytea), where a NUL is harmless and may be meant: event payloads
 * and job bodies are sent on exactly as given. Keyed by route, then by top-level field.
 */
const STORED_AS_BYTES: Record<string, ReadonlySet<string>> = {
  'POST /events': new Set(['payload']),
  'POST /webhooks/trigger': new Set(['payload']),
  'POST /jobs': new Set(['body']),
};

/** The username of HTTP Basic credentials, when the request carries them. */
function basicUsername(header: string | undefined): string | null {
  const match = /^basic\s+(\S+)\s*$/i.exec(header?.trim() ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? decoded : decoded.slice(0, colon);
}

function findRequestProblem(request: FastifyRequest): TextProblem | null {
  // Path parameters are names and ids: no control characters at all.
  for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) {
    const problem = typeof value === 'string' ? identifierProblem(value, name) : null;
    if (problem) return problem;
  }
  const username = basicUsername(request.headers.authorization);
  const userProblem = username === null ? null : identifierProblem(username, 'authorization username');
  if (userProblem) return userProblem;
  const queryProblem = findNul(request.query ?? {});
  if (queryProblem) return queryProblem;
  // Parsed JSON only: raw bodies (ingest, GraphQL, the Webhook As A Service routes) are bytes here,
  // and whoever parses them checks what reaches the database.
  const body = request.body;
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return null;
  const skip = STORED_AS_BYTES[`${request.method} ${request.routeOptions.url}`] ?? new Set<string>();
  return findNul(body, '', skip);
}

/**
 * Refuses with 400, before any handler runs, a request whose path, query string, Basic username
 * or JSON body holds text Postgres cannot store (see core's text-input rule), naming the field.
 * The answer carries both `error` and `message`, the keys this server's REST families read.
 */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (request, reply) => {
    const problem = findRequestProblem(request);
    if (!problem) return;
    const message = `${problem.path} ${problem.message}`;
    return reply.code(400).send({ error: message, message, fields: [problem] });
  });
}
