import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Principal, systemPrincipal } from '../src/index.ts';
import { headersOf } from '../src/testing.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

/** A loopback port nobody listens on: connections to it are refused. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('HTTP jobs', () => {
  let h: DeliveryHarness;
  let alice: Principal;
  let bob: Principal;

  beforeAll(async () => {
    h = await startDeliveryHarness();
    alice = await h.user('alice');
    bob = await h.user('bob');
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.receiver.requests.length = 0;
    h.receiver.respondWith(() => ({ status: 200 }));
  });

  it('makes the request as given, records the reply, then calls back signed with the owner secret', async () => {
    h.clock.set(new Date()); // the standardwebhooks package checks timestamps against the real clock
    h.receiver.respondWith((request) =>
      request.path === '/service'
        ? { status: 201, headers: { 'content-type': 'application/json', 'x-served-by': 'test' }, body: '{"ok":true}' }
        : { status: 204 },
    );
    const job = must(
      await h.core.jobs.create(alice, {
        url: `${h.receiver.url}/service`,
        method: 'PUT',
        headers: { 'X-Service-Token': 'abc', 'Content-Type': 'application/json' },
        body: '{"userId":1}',
        callbackUrl: `${h.receiver.url}/callback`,
      }),
    );
    expect(job).toMatchObject({ state: 'accepted', attempts: 0, notifyState: null });
    expect(await h.drain()).toBe(2); // the request, then the callback
    const [service, callback] = h.receiver.requests;
    expect(service).toMatchObject({ method: 'PUT', path: '/service' });
    expect(service?.headers['x-service-token']).toBe('abc');
    expect(service?.body.toString()).toBe('{"userId":1}');
    expect(service?.headers['webhook-signature']).toBeUndefined(); // the client's request goes as it is

    const secret = must(await h.core.jobs.signingSecret(alice));
    expect(secret).toMatch(/^whsec_/);
    if (!callback) throw new Error('no callback');
    const report = new Webhook(secret).verify(callback.body, headersOf(callback)) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(report.type).toBe('job.succeeded');
    expect(report.data).toMatchObject({
      jobId: job.id,
      state: 'succeeded',
      attempts: 1,
      url: `${h.receiver.url}/service`,
      method: 'PUT',
      response: { status: 201, body: '{"ok":true}', bodyEncoding: 'utf8', truncated: false },
      error: null,
    });
    const done = must(await h.core.jobs.get(alice, job.id));
    expect(done).toMatchObject({
      state: 'succeeded',
      attempts: 1,
      lastStatusCode: 201,
      notifyState: 'notified',
      notifyStatusCode: 204,
    });
    expect(done.responseHeaders?.['x-served-by']).toBe('test');
    expect(done.responseBody?.toString()).toBe('{"ok":true}');
    expect(done.finishedAt).not.toBeNull();
  });

  it('retries on its policy, on an injected clock, until the service answers', async () => {
    h.clock.set(new Date('2026-06-01T12:00:00.000Z'));
    h.receiver.respondWith((_request, index) => ({ status: index < 2 ? 503 : 200 }));
    const job = must(
      await h.core.jobs.create(alice, {
        url: `${h.receiver.url}/flaky`,
        retryPolicy: { scheduleMs: [0, 60_000, 120_000] },
      }),
    );
    expect(await h.core.worker.runOnce()).toBe(1);
    expect(must(await h.core.jobs.get(alice, job.id))).toMatchObject({
      state: 'retrying',
      attempts: 1,
      lastStatusCode: 503,
    });
    h.clock.advance(30_000);
    expect(await h.core.worker.runOnce()).toBe(0); // not yet due: 60 s ±20%
    h.clock.advance(60_000);
    expect(await h.core.worker.runOnce()).toBe(1);
    expect(must(await h.core.jobs.get(alice, job.id))).toMatchObject({ state: 'retrying', attempts: 2 });
    h.clock.advance(150_000);
    expect(await h.core.worker.runOnce()).toBe(1);
    expect(must(await h.core.jobs.get(alice, job.id))).toMatchObject({
      state: 'succeeded',
      attempts: 3,
      lastStatusCode: 200,
    });
    const attempts = (await h.core.jobs.attemptsOf([job.id])).get(job.id) ?? [];
    expect(attempts.map((a) => [a.number, a.statusCode, a.succeeded])).toEqual([
      [1, 503, false],
      [2, 503, false],
      [3, 200, true],
    ]);
  });

  it('fails after its last attempt when the service refuses connections, and so does a refused callback', async () => {
    const service = await closedPort();
    const callback = await closedPort();
    const job = must(
      await h.core.jobs.create(alice, {
        url: `http://127.0.0.1:${service}/service`,
        callbackUrl: `http://127.0.0.1:${callback}/callback`,
        retryPolicy: { maxAttempts: 2, scheduleMs: [0, 1000] },
        callbackRetryPolicy: { maxAttempts: 2, scheduleMs: [0, 1000] },
      }),
    );
    await h.drain();
    expect(must(await h.core.jobs.get(alice, job.id)).state).toBe('retrying');
    h.clock.advance(2000);
    await h.drain();
    const failed = must(await h.core.jobs.get(alice, job.id));
    expect(failed).toMatchObject({ state: 'failed', attempts: 2, lastStatusCode: null, notifyState: 'pending' });
    expect(failed.lastError).toMatch(/^connection failed: ECONNREFUSED.*\(no attempts left\)$/);
    h.clock.advance(2000);
    await h.drain();
    const told = must(await h.core.jobs.get(alice, job.id));
    expect(told.notifyState).toBe('notify_failed');
    expect(told.notifyError).toMatch(/ECONNREFUSED/);
  });

  it('a worker scoped to one job sends only that job, and leaves other due work alone', async () => {
    const other = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/other` }));
    const mine = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/mine` }));
    const scoped = h.core.createWorker({ jobId: mine.id });
    expect(await scoped.runOnce()).toBe(1);
    expect(await scoped.runOnce()).toBe(0);
    expect(h.receiver.requests.map((r) => r.path)).toEqual(['/mine']);
    expect(must(await h.core.jobs.get(alice, other.id)).state).toBe('accepted');
    await h.drain();
  });

  it('counts the statuses it is told to accept as success', async () => {
    h.receiver.respondWith(() => ({ status: 404 }));
    const job = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/gone`, acceptedStatuses: [404, 410] }));
    await h.drain();
    expect(must(await h.core.jobs.get(alice, job.id))).toMatchObject({ state: 'succeeded', lastStatusCode: 404 });
  });

  it('cancels a job that has not ended: nothing is sent, and the callback hears of it', async () => {
    const job = must(
      await h.core.jobs.create(alice, { url: `${h.receiver.url}/never`, callbackUrl: `${h.receiver.url}/told` }),
    );
    const cancelled = must(await h.core.jobs.cancel(alice, job.id));
    expect(cancelled).toMatchObject({ state: 'cancelled', notifyState: 'pending' });
    await h.drain();
    expect(h.receiver.requests.map((r) => r.path)).toEqual(['/told']);
    expect(JSON.parse(h.receiver.requests[0]?.body.toString() ?? '{}')).toMatchObject({
      type: 'job.cancelled',
      data: { jobId: job.id, state: 'cancelled', attempts: 0, response: null },
    });
    expect(must(await h.core.jobs.get(alice, job.id)).notifyState).toBe('notified');
    const again = await h.core.jobs.cancel(alice, job.id);
    expect(!again.ok && again.error).toMatchObject({
      code: 'CONFLICT',
      message: 'The job has already ended (cancelled)',
    });
  });

  it("another user's job is invisible: not found to read, cancel or list", async () => {
    const job = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/private` }));
    const read = await h.core.jobs.get(bob, job.id);
    expect(!read.ok && read.error.code).toBe('NOT_FOUND');
    const cancel = await h.core.jobs.cancel(bob, job.id);
    expect(!cancel.ok && cancel.error.code).toBe('NOT_FOUND');
    expect(must(await h.core.jobs.list(bob, {}, { limit: 50 })).map((j) => j.id)).not.toContain(job.id);
    expect(must(await h.core.jobs.list(alice, {}, { limit: 50 })).map((j) => j.id)).toContain(job.id);
    expect(must(await h.core.jobs.get(h.admin, job.id)).id).toBe(job.id);
    await h.drain();
  });

  it('creates a job for another user only as an admin; the system actor must name the owner', async () => {
    const url = `${h.receiver.url}/for-someone`;
    const forBob = must(await h.core.jobs.create(h.admin, { url }, { userId: bob.user.id }));
    expect(forBob.userId).toBe(bob.user.id);
    expect(must(await h.core.jobs.get(bob, forBob.id)).id).toBe(forBob.id);
    const byMember = await h.core.jobs.create(alice, { url }, { userId: bob.user.id });
    expect(!byMember.ok && byMember.error).toMatchObject({
      code: 'FORBIDDEN',
      message: 'Only admins can create jobs for other users',
    });
    for (const userId of ['nope', '00000000-0000-4000-8000-000000000000']) {
      const unknown = await h.core.jobs.create(h.admin, { url }, { userId });
      expect(!unknown.ok && unknown.error.code).toBe('NOT_FOUND');
    }
    const bySystem = await h.core.jobs.create(systemPrincipal, { url });
    expect(!bySystem.ok && bySystem.error.code).toBe('INVALID');
    expect(must(await h.core.jobs.create(systemPrincipal, { url }, { userId: alice.user.id })).userId).toBe(
      alice.user.id,
    );
    await h.drain();
  });

  it('refuses what it cannot run, naming each problem, and stores nothing', async () => {
    const before = must(await h.core.jobs.list(alice, {}, { limit: 500 })).length;
    const refused = await h.core.jobs.create(alice, {
      url: 'ftp://example.com/x',
      method: 'BREW' as 'GET',
      headers: { Host: 'evil.example' },
      body: 'a',
      bodyBase64: 'Yg==',
      timeoutMs: 5,
    });
    expect(!refused.ok && refused.error.fields?.map((f) => f.path).sort()).toEqual([
      'body',
      'headers',
      'method',
      'timeoutMs',
      'url',
    ]);
    const metadata = await h.core.jobs.create(alice, { url: 'http://169.254.169.254/latest/meta-data/' });
    expect(!metadata.ok && metadata.error.fields).toEqual([
      { path: 'url', message: expect.stringContaining('169.254.169.254 is a linkLocal address') },
    ]);
    const narrow = { ...alice, scopes: ['jobs:read' as const] };
    const forbidden = await h.core.jobs.create(narrow, { url: `${h.receiver.url}/x` });
    expect(!forbidden.ok && forbidden.error.code).toBe('FORBIDDEN');
    expect(must(await h.core.jobs.list(alice, {}, { limit: 500 }))).toHaveLength(before);
  });
});
