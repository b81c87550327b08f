import type { Core, CoreError, Principal } from '@switchboard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticateCredentials } from './authenticate.ts';
import { HTTP_STATUS } from './status.ts';

/**
 * The caller of a REST route (Bearer token or Basic credentials; no session cookies here), or null
 * once a 401 or 429 has been sent in the `{"error": ...}` shape of these routes.
 */
export async function authenticateRest(
  core: Core,
  request: FastifyRequest,
  reply: FastifyReply,
  needs: string,
): Promise<Principal | null> {
  const outcome = await authenticateCredentials(core, {
    authorization: request.headers.authorization,
    ip: request.ip,
    userAgent: request.headers['user-agent'],
  });
  if (outcome.kind === 'authenticated') return outcome.principal;
  reply.header('www-authenticate', 'Bearer realm="switchboard"');
  if (outcome.kind === 'refused' && outcome.retryAfterSeconds) {
    reply.header('retry-after', String(outcome.retryAfterSeconds));
  }
  const status = outcome.kind === 'refused' ? outcome.status : 401;
  const message =
    outcome.kind === 'refused' ? outcome.message : `Authentication required: send a Bearer token with ${needs}`;
  await reply.code(status).send({ error: message });
  return null;
}

/** A parsed JSON body that is an object (not an array, a string or null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether the body was sent as JSON (`application/json`, or a `+json` type). */
export function isJsonRequest(request: FastifyRequest): boolean {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type.endsWith('+json');
}

export function sendError(
  reply: FastifyReply,
  status: number,
  message: string,
  fields?: Array<{ path: string; message: string }>,
) {
  return reply.code(status).send(fields?.length ? { error: message, fields } : { error: message });
}

/** A core failure as these routes answer it: its status, its message and, for bad input, each field's problem. */
export function sendFailure(reply: FastifyReply, error: CoreError) {
  // RATE_LIMITED and UNAVAILABLE say when to come back.
  if (error.retryAfterSeconds) reply.header('retry-after', String(error.retryAfterSeconds));
  return sendError(reply, HTTP_STATUS[error.code], error.message, error.fields);
}
