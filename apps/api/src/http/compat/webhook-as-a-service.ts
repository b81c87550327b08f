// Compatibility: Webhook As A Service. Its routes (`/webhook`, `/status`) and JSON shapes (the job
// package, the status document), as its README documents them.

import { type Core, encodeBody, isSerializable, type Job, type Principal, parseToken } from '@switchboard/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isJsonObject, isJsonRequest } from '../rest-auth.ts';

/**
 * The Webhook As A Service routes, with its JSON shapes: `POST /webhook` to submit a job,
 * `GET /webhook` to check credentials, `GET /status` for a job's outcome. Its `client_id` and
 * `verify_token` are an API token's id and secret (the token `sb_<client_id>_<verify_token>`).
 * Its GET routes read their JSON body, as its clients send one, or the query string.
 */
export async function registerWebhookServiceRoutes(app: FastifyInstance, core: Core): Promise<void> {
  await app.register(async (scope) => {
    // Bodies are parsed here, so that a bad one gets this service's own answer, not Fastify's.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 2 * 1024 * 1024 }, (_request, body, done) =>
      done(null, body),
    );

    scope.post('/webhook', async (request, reply) => {
      if (!isJsonRequest(request))
        return reply.code(400).send({ message: 'request type must be JSON', status: 'failed' });
      const body = parseObject(request.body as Buffer | undefined);
      if (!body) return reply.code(400).send({ message: 'the body is not a JSON object', status: 'failed' });
      const principal = await authenticate(core, body);
      if (!principal) return badCredentials(reply);
      const headers = body.headers ?? {};
      if (typeof headers !== 'object' || Array.isArray(headers) || headers === null) {
        return reply.code(400).send({ message: 'headers must be an object of names and values', status: 'failed' });
      }
      if (!isSerializable(body.data)) {
        return reply.code(400).send({ message: 'data nests too deeply to be sent', status: 'failed' });
      }
      const created = await core.jobs.create(principal, {
        url: typeof body.service === 'string' ? body.service : '',
        method: (typeof body.methodtype === 'string' ? body.methodtype.toUpperCase() : 'POST') as 'POST',
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])),
        // A string is sent as it is; anything else as its JSON, as the service's clients expect.
        body:
          body.data === undefined || body.data === null
            ? null
            : typeof body.data === 'string'
              ? body.data
              : JSON.stringify(body.data),
        callbackUrl: typeof body.callback === 'string' && body.callback !== '' ? body.callback : null,
        ...extensions(body),
      });
      if (!created.ok) {
        if (created.error.code === 'FORBIDDEN') return badCredentials(reply, created.error.message);
        const fields = created.error.fields?.map((f) => ({ ...f, path: WAAS_NAMES[f.path] ?? f.path }));
        return reply.code(400).send({ message: created.error.message, status: 'failed', fields });
      }
      return reply.send({
        created: pythonIsoTime(created.value.createdAt),
        job_id: created.value.id,
        status: 'accepted',
      });
    });

    scope.get('/webhook', async (request, reply) => {
      const input = await readInput(request);
      if (!input) return reply.code(400).send({ message: 'the body is not a JSON object', status: 'failed' });
      return (await authenticate(core, input)) ? reply.send({ status: 'success' }) : badCredentials(reply);
    });

    scope.get('/status', async (request, reply) => {
      const input = await readInput(request);
      if (!input) return reply.code(400).send({ message: 'the body is not a JSON object', status: 'failed' });
      const principal = await authenticate(core, input);
      if (!principal) return badCredentials(reply);
      const found = typeof input.job_id === 'string' ? await core.jobs.get(principal, input.job_id) : null;
      if (!found?.ok) return reply.code(404).send({ status: 'No job with that ID exists' });
      return reply.send(toStatus(found.value));
    });
  });
}

/** Our field names in validation problems, in this service's words. */
const WAAS_NAMES: Record<string, string> = {
  url: 'service',
  method: 'methodtype',
  body: 'data',
  callbackUrl: 'callback',
};

/** Additions of ours that its clients may send: the retry policies, a timeout, accepted statuses. */
function extensions(body: Record<string, unknown>) {
  return {
    ...(body.retry_policy !== undefined ? { retryPolicy: body.retry_policy as never } : {}),
    ...(body.callback_retry_policy !== undefined ? { callbackRetryPolicy: body.callback_retry_policy as never } : {}),
    ...(body.timeout_ms !== undefined ? { timeoutMs: body.timeout_ms as number } : {}),
    ...(body.accepted_statuses !== undefined ? { acceptedStatuses: body.accepted_statuses as number[] } : {}),
  };
}

async function authenticate(core: Core, input: Record<string, unknown>): Promise<Principal | null> {
  const token = `sb_${String(input.client_id ?? '')}_${String(input.verify_token ?? '')}`;
  return parseToken(token) ? core.auth.authenticateToken(token) : null;
}

function badCredentials(reply: FastifyReply, message?: string) {
  return reply
    .code(message ? 403 : 401)
    .send(message ? { status: 'bad credentials', message } : { status: 'bad credentials' });
}

function parseObject(raw: Buffer | undefined): Record<string, unknown> | null {
  if (!raw || raw.length === 0) return null;
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as unknown;
    return isJsonObject(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

/** A GET's JSON body (Fastify leaves GET bodies unread), or else its query string. */
async function readInput(request: FastifyRequest): Promise<Record<string, unknown> | null> {
  const length = Number(request.headers['content-length'] ?? 0);
  if (length > 0 || request.headers['transfer-encoding']) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request.raw) {
      size += (chunk as Buffer).length;
      if (size > 64 * 1024) return null;
      chunks.push(chunk as Buffer);
    }
    return parseObject(Buffer.concat(chunks));
  }
  return { ...(request.query as Record<string, unknown>) };
}

/**
 * Its status document. Its states were accepted, running and completed (ended, whether it worked
 * or not, the output says which); a cancelled job is `failed`. Its outputs were Python tuples;
 * here they are objects with the same facts.
 */
function toStatus(job: Job) {
  const status =
    job.state === 'accepted'
      ? 'accepted'
      : job.state === 'running' || job.state === 'retrying'
        ? 'running'
        : job.state === 'cancelled'
          ? 'failed'
          : 'completed';
  const output =
    job.state === 'succeeded'
      ? { outcome: 'completed', status: job.lastStatusCode, ...encodeBody(job.responseBody) }
      : job.state === 'failed'
        ? { outcome: 'failed', status: job.lastStatusCode, error: job.lastError, ...encodeBody(job.responseBody) }
        : job.state === 'cancelled'
          ? { outcome: 'cancelled' }
          : null;
  const notified =
    job.notifyState === 'notified' ? 'true' : job.notifyState === 'notify_failed' ? 'notification failed' : 'false';
  const notifyoutput =
    job.notifyState === 'notified'
      ? { outcome: 'callback sent', status: job.notifyStatusCode }
      : job.notifyState === 'notify_failed'
        ? { outcome: 'callback failed', status: job.notifyStatusCode, error: job.notifyError }
        : null;
  return {
    jobId: job.id,
    lastUpdate: pythonTime(job.updatedAt),
    status,
    output,
    notified,
    notifyoutput,
    service: job.url,
  };
}

/** `2020-09-14 15:39:48:291420`, as the service wrote its times (UTC, microseconds). */
function pythonTime(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}:${iso.slice(20, 23)}000`;
}

/** ISO 8601 with microseconds, as Python's isoformat() writes it. */
function pythonIsoTime(date: Date): string {
  return `${date.toISOString().slice(0, 23)}000+00:00`;
}
