import { headersOf } from '@switchboard/core/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, subscribeOverWebSocket } from './delivery-fixtures.ts';
import {
  CANCEL_JOB,
  CREATE_JOB,
  JOB,
  JOB_UPDATES,
  JOBS,
  ROTATE_SIGNING_SECRET,
  SIGNING_SECRET,
  startJobsServer,
} from './job-fixtures.ts';

describe('jobs over GraphQL', () => {
  let env: Awaited<ReturnType<typeof startJobsServer>>;
  /** A job that has succeeded, made by the first test. */
  let finished: string;

  beforeAll(async () => {
    env = await startJobsServer();
  });
  afterAll(async () => {
    await env.close();
  });

  it('createJob makes the request as given; the job shows it succeeded, with its attempts and the response', async () => {
    env.replies.set('/service', { status: 201, headers: { 'x-served-by': 'test' }, body: '{"ok":true}' });
    const created = (
      await env.as(env.alice.authorization, CREATE_JOB, {
        input: {
          url: env.url('/service'),
          method: 'PUT',
          headers: [{ name: 'X-Service-Token', value: 'abc' }],
          body: '{"userId":1}',
          retryPolicy: { maxAttempts: 3 },
        },
      })
    ).data?.createJob;
    expect(created).toEqual({
      __typename: 'CreateJobSuccess',
      job: { id: expect.any(String), state: 'ACCEPTED', attemptCount: 0, userId: env.alice.user.id },
    });
    finished = created.job.id;
    const [request] = await eventually(
      async () => env.at('/service'),
      (requests) => requests.length === 1,
    );
    expect(request).toMatchObject({ method: 'PUT', path: '/service' });
    expect(request?.headers['x-service-token']).toBe('abc');
    expect(request?.body.toString()).toBe('{"userId":1}');
    expect(request?.headers['webhook-signature']).toBeUndefined();

    const job = await env.settled(env.alice.authorization, finished, (j) => j.state === 'SUCCEEDED');
    expect(job).toMatchObject({
      id: finished,
      userId: env.alice.user.id,
      url: env.url('/service'),
      method: 'PUT',
      headers: [{ name: 'X-Service-Token', value: 'abc' }],
      body: '{"userId":1}',
      bodyBase64: Buffer.from('{"userId":1}').toString('base64'),
      callbackUrl: null,
      timeoutMs: 15_000,
      retryPolicy: { scheduleMs: null, maxAttempts: 3, maxTotalMs: null },
      acceptedStatuses: null,
      attemptCount: 1,
      lastStatusCode: 201,
      lastError: null,
      responseBody: '{"ok":true}',
      responseBodyBase64: Buffer.from('{"ok":true}').toString('base64'),
      responseTruncated: false,
      notifyState: null,
      finishedAt: expect.any(String),
    });
    expect(job.responseHeaders).toContainEqual({ name: 'x-served-by', value: 'test' });
    expect(job.attempts).toEqual([
      { number: 1, statusCode: 201, responseBody: '{"ok":true}', succeeded: true, error: null },
    ]);
  });

  it('sends bodyBase64 as its exact bytes; a job out of attempts has failed', async () => {
    env.replies.set('/broken', { status: 500, body: 'down' });
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    const id = await env.create(env.alice.authorization, {
      url: env.url('/broken'),
      bodyBase64: bytes.toString('base64'),
      retryPolicy: { maxAttempts: 1 },
    });
    const job = await env.settled(env.alice.authorization, id, (j) => j.state === 'FAILED');
    expect(env.at('/broken').map((r) => [r.method, r.body])).toEqual([['POST', bytes]]);
    expect(job).toMatchObject({
      method: 'POST',
      bodyBase64: bytes.toString('base64'),
      lastStatusCode: 500,
      lastError: 'HTTP 500 (no attempts left)',
      responseBody: 'down',
    });
    expect(job.attempts).toEqual([
      { number: 1, statusCode: 500, responseBody: 'down', succeeded: false, error: 'HTTP 500 (no attempts left)' },
    ]);
  });

  it('reports to the callback URL, signed with the secret jobSigningSecret answers, until it is rotated', async () => {
    const secret = (await env.as(env.alice.authorization, SIGNING_SECRET)).data?.jobSigningSecret;
    expect(secret).toMatch(/^whsec_/);
    env.replies.set('/service', { status: 201, headers: { 'x-served-by': 'test' }, body: '{"ok":true}' });
    env.replies.set('/told', { status: 204 });
    const id = await env.create(env.alice.authorization, { url: env.url('/service'), callbackUrl: env.url('/told') });
    const job = await env.settled(env.alice.authorization, id, (j) => j.notifyState === 'NOTIFIED');
    expect(job).toMatchObject({ state: 'SUCCEEDED', notifyStatusCode: 204, notifyError: null });
    const [callback] = env.at('/told');
    if (!callback) throw new Error('no callback');
    const report = new Webhook(secret).verify(callback.body, headersOf(callback)) as { data: { finishedAt: string } };
    expect(report).toEqual({
      type: 'job.succeeded',
      timestamp: report.data.finishedAt,
      data: {
        jobId: id,
        state: 'succeeded',
        attempts: 1,
        url: env.url('/service'),
        method: 'POST',
        finishedAt: expect.any(String),
        response: {
          status: 201,
          headers: expect.objectContaining({ 'x-served-by': 'test' }),
          body: '{"ok":true}',
          bodyEncoding: 'utf8',
          truncated: false,
        },
        error: null,
      },
    });
    // The report is written when the attempt ends, the job's record when that outcome is stored.
    expect(Math.abs(Date.parse(report.data.finishedAt) - Date.parse(job.finishedAt))).toBeLessThan(5000);

    const rotated = (await env.as(env.alice.authorization, ROTATE_SIGNING_SECRET)).data?.rotateJobSigningSecret;
    expect(rotated.__typename).toBe('RotateJobSigningSecretSuccess');
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(secret);
    expect((await env.as(env.alice.authorization, SIGNING_SECRET)).data?.jobSigningSecret).toBe(rotated.secret);
    const next = await env.create(env.alice.authorization, { url: env.url('/service'), callbackUrl: env.url('/told') });
    await env.settled(env.alice.authorization, next, (j) => j.notifyState === 'NOTIFIED');
    const later = env.at('/told').find((r) => JSON.parse(r.body.toString()).data.jobId === next);
    if (!later) throw new Error('no second callback');
    expect(new Webhook(rotated.secret).verify(later.body, headersOf(later))).toMatchObject({ data: { jobId: next } });
    expect(() => new Webhook(secret).verify(later.body, headersOf(later))).toThrow();
  });

  it('createJob names each problem of a job it cannot run, and stores nothing', async () => {
    const before = await env.listed(env.alice.authorization);
    const refused = await env.as(env.alice.authorization, CREATE_JOB, {
      input: {
        url: 'ftp://example.com/x',
        headers: [{ name: 'Host', value: 'evil.example' }],
        body: 'a',
        bodyBase64: 'Yg==',
        timeoutMs: 5,
        retryPolicy: { maxAttempts: 0 },
      },
    });
    expect(refused.data?.createJob.__typename).toBe('ValidationError');
    expect(refused.data?.createJob.fields.map((f: { path: string }) => f.path).sort()).toEqual([
      'body',
      'headers',
      'retryPolicy.maxAttempts',
      'timeoutMs',
      'url',
    ]);
    const metadata = await env.as(env.alice.authorization, CREATE_JOB, {
      input: { url: 'http://169.254.169.254/latest/meta-data/' },
    });
    expect(metadata.data?.createJob).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: 'url', message: expect.stringContaining('169.254.169.254') }],
    });
    expect(await env.listed(env.alice.authorization)).toEqual(before);
  });

  it('cancelJob stops a job waiting for its retry and tells its callback; cancelling again is a ConflictError', async () => {
    env.replies.set('/flaky', { status: 503 });
    const id = await env.create(env.alice.authorization, {
      url: env.url('/flaky'),
      callbackUrl: env.url('/cancelled'),
      retryPolicy: { scheduleMs: [0, 600_000] },
    });
    await env.settled(env.alice.authorization, id, (j) => j.state === 'RETRYING' && j.attemptCount === 1);
    const cancelled = (await env.as(env.alice.authorization, CANCEL_JOB, { id })).data?.cancelJob;
    expect(cancelled).toEqual({
      __typename: 'CancelJobSuccess',
      job: { id, state: 'CANCELLED', notifyState: 'PENDING' },
    });
    const job = await env.settled(env.alice.authorization, id, (j) => j.notifyState === 'NOTIFIED');
    expect(job).toMatchObject({
      state: 'CANCELLED',
      attemptCount: 1,
      lastStatusCode: 503,
      finishedAt: expect.any(String),
    });
    expect(JSON.parse(env.at('/cancelled')[0]?.body.toString() ?? '{}')).toMatchObject({
      type: 'job.cancelled',
      data: { jobId: id, state: 'cancelled', attempts: 1 },
    });
    expect(env.at('/flaky')).toHaveLength(1);
    expect(await env.listed(env.alice.authorization, { state: ['CANCELLED'] })).toEqual([id]);

    const again = (await env.as(env.alice.authorization, CANCEL_JOB, { id })).data?.cancelJob;
    expect(again).toEqual({ __typename: 'ConflictError', message: 'The job has already ended (cancelled)' });
    const ended = (await env.as(env.alice.authorization, CANCEL_JOB, { id: finished })).data?.cancelJob;
    expect(ended).toEqual({ __typename: 'ConflictError', message: 'The job has already ended (succeeded)' });
  });

  it('jobs lists your jobs newest first, by state and creation time, a page at a time', async () => {
    env.replies.set('/page-fail', { status: 500 });
    const oldest = await env.create(env.carol.authorization, { url: env.url('/page') });
    const middle = await env.create(env.carol.authorization, {
      url: env.url('/page-fail'),
      retryPolicy: { maxAttempts: 1 },
    });
    const newest = await env.create(env.carol.authorization, { url: env.url('/page') });
    for (const id of [oldest, middle, newest]) {
      await env.settled(env.carol.authorization, id, (j) => j.state === 'SUCCEEDED' || j.state === 'FAILED');
    }
    expect(await env.listed(env.carol.authorization)).toEqual([newest, middle, oldest]);
    expect(await env.listed(env.carol.authorization, { state: ['FAILED'] })).toEqual([middle]);
    expect(await env.listed(env.carol.authorization, { state: ['SUCCEEDED', 'FAILED'] })).toEqual([
      newest,
      middle,
      oldest,
    ]);
    expect(await env.listed(env.carol.authorization, { state: ['RETRYING'] })).toEqual([]);
    const at = (await env.as(env.carol.authorization, JOB, { id: middle })).data?.job.createdAt;
    expect(await env.listed(env.carol.authorization, { since: at })).toEqual([newest, middle]);
    expect(await env.listed(env.carol.authorization, { until: at })).toEqual([oldest]);

    const first = (await env.as(env.carol.authorization, JOBS, { first: 1 })).data?.jobs;
    expect(first.edges.map((e: any) => e.node.id)).toEqual([newest]);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, endCursor: first.edges[0].cursor });
    const second = (await env.as(env.carol.authorization, JOBS, { first: 1, after: first.pageInfo.endCursor })).data
      ?.jobs;
    expect(second.edges.map((e: any) => e.node.id)).toEqual([middle]);
    expect(await env.listed(env.carol.authorization, { first: undefined, last: 1 })).toEqual([oldest]);
    expect(
      await env.listed(env.carol.authorization, { first: undefined, last: 1, before: second.edges[0].cursor }),
    ).toEqual([newest]);
  });

  it('jobUpdates streams the job over graphql-ws from now until its callback is told', async () => {
    // A slow service leaves time to see the job before it ends.
    env.replies.set('/slow', { status: 200, body: 'done', delayMs: 1500 });
    const id = await env.create(env.alice.authorization, { url: env.url('/slow'), callbackUrl: env.url('/told') });
    const stream = subscribeOverWebSocket(env.server.wsUrl, env.alice.authorization, JOB_UPDATES, { id });
    try {
      const updates = await eventually(
        async () => stream.received.map((d) => d.jobUpdates),
        (u) => u.some((j) => j.notifyState === 'NOTIFIED'),
      );
      expect(stream.errors).toEqual([]);
      expect(new Set(updates.map((j) => j.id))).toEqual(new Set([id]));
      expect(['ACCEPTED', 'RUNNING']).toContain(updates[0].state);
      expect(updates[0].attempts).toEqual([]);
      // Each update is the job as read after a change; quick changes may share one read.
      const states = updates.map((j) => j.state);
      expect(states.slice(states.indexOf('SUCCEEDED')).every((state) => state === 'SUCCEEDED')).toBe(true);
      expect(updates.at(-1)).toEqual({
        id,
        state: 'SUCCEEDED',
        notifyState: 'NOTIFIED',
        attempts: [{ statusCode: 200 }],
      });
    } finally {
      await stream.close();
    }
  });
});
