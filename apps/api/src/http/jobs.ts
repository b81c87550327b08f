import { type Core, type DeliveryAttempt, encodeBody, type Job, type JobDefinition } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { authenticateRest, isJsonObject, isJsonRequest, sendError, sendFailure } from './rest-auth.ts';

/**
 * `POST /jobs` (jobs:write): run an HTTP request with retries and report to a callback URL.
 * `GET /jobs/:id` (jobs:read, the owner only): the job and its attempts.
 * `POST /jobs/:id/cancel` (jobs:write): stop a job that has not ended.
 */
export function registerJobRoutes(app: FastifyInstance, core: Core): void {
  app.post<{ Body: unknown }>('/jobs', async (request, reply) => {
    const principal = await authenticateRest(core, request, reply, 'jobs:write');
    if (!principal) return reply;
    if (!isJsonRequest(request))
      return sendError(reply, 415, 'Send the job as JSON, with Content-Type: application/json');
    const body = request.body;
    if (!isJsonObject(body)) {
      return sendError(reply, 400, 'The body must be a JSON object: {"url": "...", "method": "POST", ...}');
    }
    const result = await core.jobs.create(principal, body as unknown as JobDefinition);
    if (!result.ok) return sendFailure(reply, result.error);
    return reply.code(202).send(toJobJson(result.value));
  });

  app.get<{ Params: { id: string } }>('/jobs/:id', async (request, reply) => {
    const principal = await authenticateRest(core, request, reply, 'jobs:read');
    if (!principal) return reply;
    const result = await core.jobs.get(principal, request.params.id);
    if (!result.ok) return sendFailure(reply, result.error);
    const attempts = (await core.jobs.attemptsOf([result.value.id])).get(result.value.id) ?? [];
    return reply.send({ ...toJobJson(result.value), attemptLog: attempts.map(toAttemptJson) });
  });

  app.post<{ Params: { id: string } }>('/jobs/:id/cancel', async (request, reply) => {
    const principal = await authenticateRest(core, request, reply, 'jobs:write');
    if (!principal) return reply;
    const result = await core.jobs.cancel(principal, request.params.id);
    if (!result.ok) return sendFailure(reply, result.error);
    return reply.send(toJobJson(result.value));
  });
}

export function toJobJson(job: Job) {
  return {
    id: job.id,
    state: job.state,
    url: job.url,
    method: job.method,
    callbackUrl: job.callbackUrl,
    attempts: job.attempts,
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    finishedAt: job.finishedAt?.toISOString() ?? null,
    response:
      job.lastStatusCode === null
        ? null
        : {
            status: job.lastStatusCode,
            headers: job.responseHeaders ?? {},
            ...encodeBody(job.responseBody),
            truncated: job.responseTruncated,
          },
    error: job.lastError,
    notify: job.notifyState ? { state: job.notifyState, status: job.notifyStatusCode, error: job.notifyError } : null,
  };
}

function toAttemptJson(attempt: DeliveryAttempt) {
  return {
    number: attempt.number,
    startedAt: attempt.startedAt.toISOString(),
    durationMs: attempt.durationMs,
    status: attempt.statusCode,
    error: attempt.error,
    succeeded: attempt.succeeded,
  };
}
