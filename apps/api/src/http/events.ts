import type { Core, PublishOutcome } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { authenticateRest, isJsonObject, isJsonRequest, sendError, sendFailure } from './rest-auth.ts';

interface PublishBody {
  type?: unknown;
  payload?: unknown;
  idempotencyKey?: unknown;
  dedupe?: unknown;
  wait?: unknown;
}

/**
 * `POST /events`: publish an event. Bearer token (or Basic) with the `events:publish` scope; body
 * `{"type", "payload", "dedupe": "content", "wait": true}`; `Idempotency-Key` header. 202 for a new
 * event (published, or cancelled by a blocking subscription), 200 with `duplicate: true` for a repeat.
 */
export function registerEventRoutes(app: FastifyInstance, core: Core): void {
  app.post<{ Body: PublishBody; Querystring: { wait?: string } }>('/events', async (request, reply) => {
    const principal = await authenticateRest(core, request, reply, 'events:publish');
    if (!principal) return reply;
    if (!isJsonRequest(request)) {
      return sendError(reply, 415, 'Send the event as JSON, with Content-Type: application/json');
    }
    const body = request.body;
    if (!isJsonObject(body)) {
      return sendError(reply, 400, 'The body must be a JSON object: {"type": "...", "payload": {...}}');
    }
    const header = request.headers['idempotency-key'];
    const fromBody = typeof body.idempotencyKey === 'string' ? body.idempotencyKey : undefined;
    if (body.dedupe !== undefined && body.dedupe !== 'content') {
      return sendError(reply, 400, 'dedupe may only be "content"');
    }
    if (body.wait !== undefined && typeof body.wait !== 'boolean')
      return sendError(reply, 400, 'wait must be a boolean');
    const result = await core.publisher.publish(principal, {
      type: typeof body.type === 'string' ? body.type : '',
      payload: body.payload,
      idempotencyKey: (Array.isArray(header) ? header[0] : header) ?? fromBody ?? null,
      dedupeByContent: body.dedupe === 'content',
      wait: body.wait === true || request.query.wait === 'true',
    });
    if (!result.ok) return sendFailure(reply, result.error);
    return reply.code(result.value.duplicate ? 200 : 202).send(toResponse(result.value));
  });
}

function toResponse(outcome: PublishOutcome) {
  const { event } = outcome;
  return {
    id: event.id,
    type: event.type,
    status: event.status,
    createdAt: event.createdAt.toISOString(),
    duplicate: outcome.duplicate,
    deliveries: outcome.deliveryCount,
    ...(event.status === 'cancelled'
      ? { cancelReason: event.cancelReason, cancelledBy: outcome.cancellation?.subscriptionId ?? null }
      : {}),
    ...(outcome.blocking.length > 0 ? { blocking: outcome.blocking } : {}),
  };
}
