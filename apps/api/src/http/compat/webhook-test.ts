// Compatibility: the Webhook test tool. Its routes (`/webhooks/account`, `/webhooks/subscribe`,
// `/webhooks/trigger`) and Bearer tokens, as its README documents them, and its `{"error": ...}` answers.

import { type Core, isSerializable, isValidPattern, type Principal, webhookTestSubscription } from '@switchboard/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateCredentials } from '../authenticate.ts';
import { isJsonObject, isJsonRequest, sendFailure } from '../rest-auth.ts';

type Body = Record<string, unknown>;

/**
 * The Webhook test tool's routes, with its JSON shapes and its `{"error": ...}` answers:
 * - `POST /webhooks/account` `{"user_id", "user_email"}` with the registration token (an admin's
 *   API token with the `admin` scope): makes the account (a member) if it is new, and answers a
 *   new access token as a JSON string (see WebhookTestAccounts).
 * - `POST /webhooks/subscribe` `{"event", "url"}` with that access token: a subscription that
 *   receives the tool's body (`id`, `event`, `time`, `payload`) and counts failed attempts as the
 *   tool did. Made again, it is reported in the tool's words (`failure_count`, `is_active`).
 * - `POST /webhooks/trigger` `{"event", "payload"}` with the trigger token (an API token with
 *   `events:publish`): publishes the event; the same body again is stored and sent once.
 * Who may do what is decided in core; these routes only translate. Where the tool answered bad
 * input with 500 or 401, these answer 400.
 */
export function registerWebhookTestRoutes(app: FastifyInstance, core: Core): void {
  app.post('/webhooks/account', async (request, reply) => {
    const principal = await authenticateBearer(core, request, reply, 'registration');
    if (!principal) return reply;
    const body = readBody(request, reply);
    if (!body) return reply;
    const username = body.user_id;
    if (typeof username !== 'string' || username === '') {
      return reply.code(400).send({ error: 'No "user_id" provided in authentication request' });
    }
    const registered = await core.webhookTestAccounts.register(principal, username);
    if (!registered.ok) return sendFailure(reply, registered.error);
    return reply.code(200).type('application/json').send(JSON.stringify(registered.value.token));
  });

  app.post('/webhooks/subscribe', async (request, reply) => {
    const principal = await authenticateBearer(core, request, reply, 'subscription');
    if (!principal) return reply;
    const body = readBody(request, reply);
    if (!body) return reply;
    const { event, url } = body;
    if (typeof event !== 'string' || typeof url !== 'string' || event === '' || url === '') {
      return reply.code(400).send({ error: 'incorrect submission data was provided' });
    }
    if (!(await isSupportedEvent(core, principal, event))) {
      return reply.code(400).send({ error: 'unsupported event', event });
    }
    const definition = webhookTestSubscription(event, url);
    const created = await core.subscriptions.create(principal, definition);
    if (!created.ok && created.error.code === 'CONFLICT') {
      const existing = await core.subscriptions.getByName(principal, definition.name);
      const state = existing.ok
        ? { failure_count: existing.value.failedAttempts, is_active: existing.value.enabled }
        : {};
      return reply.code(200).send({ warning: 'subscription already exists', ...state });
    }
    if (!created.ok) return sendFailure(reply, created.error);
    return reply.code(200).send(200);
  });

  app.post('/webhooks/trigger', async (request, reply) => {
    const principal = await authenticateBearer(core, request, reply, 'trigger');
    if (!principal) return reply;
    const body = readBody(request, reply);
    if (!body) return reply;
    if (typeof body.event !== 'string' || body.event === '') {
      return reply.code(400).send({ error: 'no event was provided' });
    }
    if (body.payload === undefined) return reply.code(400).send({ error: 'no payload was provided' });
    if (!isSerializable(body.payload)) return reply.code(400).send({ error: 'payload nests too deeply to be sent' });
    const published = await core.publisher.publish(principal, {
      type: body.event,
      payload: body.payload,
      // The tool kept one copy of an event by the MD5 of its body, and sent it once.
      dedupeByContent: true,
    });
    if (!published.ok) return sendFailure(reply, published.error);
    return reply.code(200).send(200);
  });
}

/**
 * The tool's tokens came only as `Authorization: Bearer <token>`; a missing or wrong one is a 401
 * in its words. A token that is valid but may not do this gets core's 403 later.
 */
async function authenticateBearer(
  core: Core,
  request: FastifyRequest,
  reply: FastifyReply,
  kind: 'registration' | 'subscription' | 'trigger',
): Promise<Principal | null> {
  const header = request.headers.authorization ?? '';
  reply.header('www-authenticate', 'Bearer realm="switchboard"');
  if (!/^bearer\s/i.test(header)) {
    await reply.code(401).send({ error: '"{Bearer}" missing from "Authorization" header' });
    return null;
  }
  if (header.trim().split(/\s+/).length !== 2) {
    await reply.code(401).send({ error: 'Improperly formatted "Authorization" header' });
    return null;
  }
  const outcome = await authenticateCredentials(core, { authorization: header, ip: request.ip });
  if (outcome.kind !== 'authenticated') {
    await reply.code(401).send({ error: `incorrect ${kind} token was provided` });
    return null;
  }
  return outcome.principal;
}

function readBody(request: FastifyRequest, reply: FastifyReply): Body | null {
  const body = request.body;
  if (!isJsonRequest(request) || !isJsonObject(body)) {
    void reply.code(400).send({ error: 'Send a JSON object, with Content-Type: application/json' });
    return null;
  }
  return body;
}

/** A type that exists and takes events, or a pattern (`citation.*`) that a type could match. */
async function isSupportedEvent(core: Core, principal: Principal, event: string): Promise<boolean> {
  if (!isValidPattern(event)) return false;
  if (event.includes('*')) return true;
  const found = await core.eventTypes.get(principal, event);
  return found.ok && found.value.archivedAt === null;
}
