// Compatibility: the Webhook Queue. Its routes (`/read`, `/listen`, `/unlisten`, `/setPassword`,
// `/reload`, `/time`) and JSON shapes (`MessageList`, `Error`), as its README documents them.

import { type Core, type Principal, toMessageListEntry } from '@switchboard/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateCredentials } from '../authenticate.ts';
import { HTTP_STATUS } from '../status.ts';

/**
 * The Webhook Queue's routes, with its JSON shapes: `MessageList` and `Error`
 * (`{"message", "refresh"}`), HTTP Basic auth, empty bodies for success. A message whose body is
 * not UTF-8 also carries `message_base64`, its exact bytes (see `toMessageListEntry`).
 */
export async function registerWebhookQueueRoutes(app: FastifyInstance, core: Core, startedAt: Date): Promise<void> {
  const startTime = String(Math.floor(startedAt.getTime() / 1000));

  const sendError = (reply: FastifyReply, status: number, message: string, refresh = false) =>
    reply.code(status).send({ message, refresh });

  /** The caller, or a 401/429 already sent. Only Basic (or a Bearer token) here: no session cookies. */
  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Principal | null> {
    const outcome = await authenticateCredentials(core, {
      authorization: request.headers.authorization,
      ip: request.ip,
      userAgent: request.headers['user-agent'],
    });
    if (outcome.kind === 'authenticated') return outcome.principal;
    if (outcome.kind === 'refused' && outcome.retryAfterSeconds) {
      reply.header('retry-after', String(outcome.retryAfterSeconds));
    }
    reply.header('www-authenticate', 'Basic realm="switchboard", charset="UTF-8"');
    const message = outcome.kind === 'refused' ? outcome.message : 'Authentication required';
    sendError(reply, outcome.kind === 'refused' ? outcome.status : 401, message);
    return null;
  }

  // GETs that change something, so that the origin guard refuses them from another site's page too.
  const writes = { config: { stateChanging: true } };

  app.get('/time', async (_request, reply) => reply.type('application/json').send(startTime));

  app.get<{ Params: { client: string } }>('/read/:client', writes, async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    // The answer is serialised before the cursor moves: a page that cannot be produced is not lost.
    const result = await core.clients.readAndRender(principal, request.params.client, (outcome) =>
      // Answered with 200 either way: the client must read this body to learn that it should refresh.
      outcome.kind === 'refresh'
        ? JSON.stringify({ message: outcome.message, refresh: true })
        : JSON.stringify({
            time: startTime,
            current_message: outcome.currentSeq,
            messages: outcome.messages.map(toMessageListEntry),
          }),
    );
    if (!result.ok) return sendError(reply, HTTP_STATUS[result.error.code], result.error.message);
    return reply.code(200).type('application/json; charset=utf-8').send(result.value);
  });

  app.get<{ Params: { client: string; queue: string } }>('/listen/:client/:queue', writes, async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const result = await core.clients.listen(principal, request.params.client, request.params.queue);
    if (!result.ok) return sendError(reply, HTTP_STATUS[result.error.code], result.error.message);
    return reply.code(200).send();
  });

  app.get<{ Params: { client: string } }>('/unlisten/:client', writes, async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const result = await core.clients.unlisten(principal, request.params.client);
    if (!result.ok) return sendError(reply, HTTP_STATUS[result.error.code], result.error.message);
    return reply.code(200).send();
  });

  app.post('/setPassword', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const currentPassword = basicPassword(request.headers.authorization);
    if (principal.via !== 'password' || currentPassword === null) {
      return sendError(reply, 400, 'setPassword needs HTTP Basic credentials, so that the current password is known');
    }
    const newPassword = readNewPassword(request.body);
    if (!newPassword)
      return sendError(reply, 400, 'Send the new password as {"password": "..."}, a form field or the body');
    const result = await core.users.changeOwnPassword(principal, { currentPassword, newPassword });
    if (!result.ok) return sendError(reply, HTTP_STATUS[result.error.code], result.error.message);
    return reply.code(200).send();
  });

  app.post('/reload', async (request, reply) => {
    const principal = await authenticate(request, reply);
    if (!principal) return reply;
    const result = await core.config.reload(principal);
    if (!result.ok) {
      const details = result.error.fields?.map((f) => `${f.path}: ${f.message}`).join('; ');
      return sendError(
        reply,
        HTTP_STATUS[result.error.code],
        details ? `${result.error.message}: ${details}` : result.error.message,
      );
    }
    return reply.code(200).send();
  });
}

function basicPassword(header: string | undefined): string | null {
  const match = /^basic\s+(.+)$/i.exec(header?.trim() ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

/** `{"password": ...}` (or `new_password`), a form field of either name, or the whole body as text. */
function readNewPassword(body: unknown): string | null {
  if (typeof body === 'string') {
    const form = new URLSearchParams(body);
    return form.get('password') ?? form.get('new_password') ?? (body.includes('=') ? null : body.trim() || null);
  }
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    const value = record.password ?? record.new_password;
    return typeof value === 'string' && value.length > 0 ? value : null;
  }
  return null;
}
