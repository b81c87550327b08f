import type { IngestOutcome, Reply, Result } from '@switchboard/core';
import type { FastifyReply } from 'fastify';
import { HTTP_STATUS } from '../status.ts';

/**
 * webhook-proxy (rycus86/webhook-proxy): the answers of a queue made from one of its endpoints,
 * as its senders and tests expect them, in plain text: `400 No payload` without a JSON payload
 * where the endpoint has body rules, `409 Invalid payload` when a rule fails, `500 Internal Server
 * Error` when an action fails, `200 OK`. Refusals it never made (verification, limits, a database
 * away) keep Switchboard's statuses, with the message as the text.
 */
export function answerAsWebhookProxy(reply: FastifyReply, result: Result<IngestOutcome>): FastifyReply {
  reply.header('content-type', 'text/plain');
  if (result.ok) {
    const actions = result.value.actions;
    if (actions?.failed) return reply.code(500).send('Internal Server Error');
    if (actions?.reply) return sendReply(reply, actions.reply);
    return reply.code(200).send('OK\n');
  }
  const { error } = result;
  if (error.code === 'INVALID' && error.message.startsWith('No payload')) return reply.code(400).send('No payload');
  if (error.code === 'CONFLICT') return reply.code(409).send('Invalid payload');
  if (error.retryAfterSeconds) reply.header('retry-after', String(error.retryAfterSeconds));
  return reply.code(HTTP_STATUS[error.code]).send(error.message);
}

/** An answer the queue rendered itself (its `response`, or a handshake preset). */
export function sendReply(reply: FastifyReply, answer: Reply): FastifyReply {
  for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
  return reply.code(answer.status).send(answer.body);
}
