import { startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { jobs } from '@switchboard/db';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factories, startTestServer, type TestServer } from './harness.ts';

type Member = Awaited<ReturnType<ReturnType<typeof factories>['user']>>;

describe('POST /jobs, GET /jobs/:id, POST /jobs/:id/cancel', () => {
  let server: TestServer;
  let receiver: TestReceiver;
  let owner: Member;
  let token: string;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        authorization: token,
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const storedJobs = async () => Number((await server.database.client.db.select({ n: count() }).from(jobs))[0]?.n ?? 0);
  /** The job once `done` holds for it, polled for up to 20 s; the failure names what was awaited. */
  const awaitJob = async (id: string, awaited: string, done: (state: string) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const job = await call('GET', `/jobs/${id}`);
      if (done(job.body.state)) return job;
      if (Date.now() > deadline) throw new Error(`waited 20 s for job ${id} ${awaited}; it is ${job.body.state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const settled = (id: string) =>
    awaitJob(id, 'to end', (state) => !['accepted', 'running', 'retrying'].includes(state));

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    receiver = await startReceiver((request) =>
      request.path === '/slow' ? { status: 503, delayMs: 50 } : { status: 200, body: 'done' },
    );
    owner = await factories(server.core).user();
    token = (await owner.token(['jobs:read', 'jobs:write'])).authorization;
  });
  afterAll(async () => {
    await receiver.close();
    await server.close();
  });

  it('accepts a job with 202, runs it, and shows it with every attempt to its owner', async () => {
    const created = await call('POST', '/jobs', {
      url: `${receiver.url}/work`,
      method: 'PATCH',
      headers: { 'X-Key': 'k' },
      bodyBase64: Buffer.from([0, 1, 2, 255]).toString('base64'),
    });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({
      state: 'accepted',
      method: 'PATCH',
      attempts: 0,
      response: null,
      notify: null,
    });
    const done = await settled(created.body.id);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      id: created.body.id,
      state: 'succeeded',
      attempts: 1,
      response: { status: 200, body: 'done', bodyEncoding: 'utf8', truncated: false },
      error: null,
    });
    expect(done.body.attemptLog).toEqual([
      {
        number: 1,
        startedAt: expect.any(String),
        durationMs: expect.any(Number),
        status: 200,
        error: null,
        succeeded: true,
      },
    ]);
    const request = receiver.requests.find((r) => r.path === '/work');
    expect(request?.method).toBe('PATCH');
    expect([...(request?.body ?? [])]).toEqual([0, 1, 2, 255]);
    expect(request?.headers['x-key']).toBe('k');
  });

  it('cancels a job that is waiting for its next attempt; a second cancel conflicts', async () => {
    const created = await call('POST', '/jobs', {
      url: `${receiver.url}/slow`,
      retryPolicy: { scheduleMs: [0, 60_000] },
    });
    await awaitJob(created.body.id, 'to wait for its next attempt', (state) => state === 'retrying');
    const cancelled = await call('POST', `/jobs/${created.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'cancelled', attempts: 1, response: { status: 503 } });
    const again = await call('POST', `/jobs/${created.body.id}/cancel`);
    expect(again).toEqual({ status: 409, body: { error: 'The job has already ended (cancelled)' } });
  });

  it('refuses bad requests with a clear 4xx and stores nothing', async () => {
    const before = await storedJobs();
    const malformed = await call('POST', '/jobs', '{"url": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/JSON/);
    expect((await call('POST', '/jobs', [1])).body.error).toMatch(/must be a JSON object/);
    const invalid = await call('POST', '/jobs', { url: 'not a url', timeoutMs: 'soon', acceptedStatuses: [99] });
    expect(invalid.status).toBe(400);
    expect(invalid.body.fields.map((f: { path: string }) => f.path).sort()).toEqual([
      'acceptedStatuses.0',
      'timeoutMs',
      'url',
    ]);
    const text = await fetch(`${server.url}/jobs`, {
      method: 'POST',
      headers: { authorization: token, 'content-type': 'text/plain' },
      body: 'GET http://example.com',
    });
    expect(text.status).toBe(415);
    expect(await storedJobs()).toBe(before);
  });

  it("keeps each owner's jobs to them, and checks scopes and credentials", async () => {
    const mine = await call('POST', '/jobs', { url: `${receiver.url}/mine` });
    const stranger = await factories(server.core).user();
    const theirs = (await stranger.token(['jobs:read', 'jobs:write'])).authorization;
    expect(await call('GET', `/jobs/${mine.body.id}`, undefined, { authorization: theirs })).toEqual({
      status: 404,
      body: { error: 'No job with that id exists' },
    });
    expect((await call('POST', `/jobs/${mine.body.id}/cancel`, undefined, { authorization: theirs })).status).toBe(404);
    expect((await call('GET', '/jobs/not-a-uuid')).status).toBe(404);
    expect((await call('POST', '/jobs/not-a-uuid/cancel')).status).toBe(404);
    const reader = (await owner.token(['jobs:read'])).authorization;
    const forbidden = await call('POST', '/jobs', { url: `${receiver.url}/x` }, { authorization: reader });
    expect(forbidden).toEqual({ status: 403, body: { error: 'Creating jobs needs the jobs:write scope' } });
    const readerCancels = await call('POST', `/jobs/${mine.body.id}/cancel`, undefined, { authorization: reader });
    expect(readerCancels.status).toBe(403);
    expect((await call('POST', '/jobs', { url: `${receiver.url}/x` }, { authorization: '' })).status).toBe(401);
    expect((await call('POST', `/jobs/${mine.body.id}/cancel`, undefined, { authorization: '' })).status).toBe(401);
    const publisher = (await owner.token(['events:publish'])).authorization;
    expect((await call('GET', `/jobs/${mine.body.id}`, undefined, { authorization: publisher })).status).toBe(403);
    expect((await call('GET', `/jobs/${mine.body.id}`, undefined, { authorization: '' })).status).toBe(401);
    expect((await call('GET', `/jobs/${mine.body.id}`, undefined, { authorization: 'Bearer sb_x_y' })).status).toBe(
      401,
    );
    await settled(mine.body.id);
  });
});
