import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { headersOf, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { jobs } from '@switchboard/db';
import { count } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factories, startTestServer, type TestServer } from './harness.ts';

type Member = Awaited<ReturnType<ReturnType<typeof factories>['user']>>;

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The Webhook As A Service README's examples and failures, over its own routes. */
describe('Webhook As A Service routes', () => {
  let server: TestServer;
  let receiver: TestReceiver;
  let client: Member;
  let credentials: { client_id: string; verify_token: string };

  const post = async (body: unknown, contentType = 'application/json') => {
    const response = await fetch(`${server.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  /** GET with a JSON body, as the service's clients send it (fetch refuses to, so node:http). */
  const getWithBody = (path: string, body: unknown) =>
    new Promise<{ status: number; body: Record<string, any> }>((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = httpRequest(
        `${server.url}${path}`,
        {
          method: 'GET',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }),
          );
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const getWithQuery = async (path: string, query: Record<string, string>) => {
    const response = await fetch(`${server.url}${path}?${new URLSearchParams(query)}`);
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const storedJobs = async () => Number((await server.database.client.db.select({ n: count() }).from(jobs))[0]?.n ?? 0);

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    receiver = await startReceiver((request) =>
      request.path === '/service'
        ? {
            status: 200,
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ echoed: request.body.toString() }),
          }
        : { status: 200 },
    );
    client = await factories(server.core).user();
    const token = await client.token(['jobs:read', 'jobs:write']);
    const [, id, secret] = token.secret.split('_');
    credentials = { client_id: id as string, verify_token: secret as string };
  });
  afterAll(async () => {
    await receiver.close();
    await server.close();
  });

  it('runs a job against a service, calls back signed, and reports it at /status (the successful example)', async () => {
    const data = {
      userId: 1,
      id: 5,
      title: 'laboriosam mollitia et enim quasi adipisci quia provident illum',
      completed: false,
    };
    const accepted = await post({
      ...credentials,
      service: `${receiver.url}/service`,
      methodtype: 'POST',
      headers: {
        serviceAuthId: 'successfulcorp',
        serviceAuthToken: 'rjc9uBixhWZ2l52mEMViGJfyQh5QfL6wAeuuCl0AsB4=',
        'user-agent': 'my-app/0.0.1',
        'Content-Type': 'application/json',
      },
      callback: `${receiver.url}/callback`,
      data,
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/),
      job_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'accepted',
    });
    await receiver.waitFor(2);
    const service = receiver.requests.find((r) => r.path === '/service');
    expect(JSON.parse(service?.body.toString() ?? '')).toEqual(data);
    expect(service?.headers).toMatchObject({
      serviceauthid: 'successfulcorp',
      serviceauthtoken: 'rjc9uBixhWZ2l52mEMViGJfyQh5QfL6wAeuuCl0AsB4=',
      'user-agent': 'my-app/0.0.1',
      'content-type': 'application/json',
    });
    const callback = receiver.requests.find((r) => r.path === '/callback');
    if (!callback) throw new Error('no callback');
    const principal = { user: client.user, via: 'password' as const, scopes: ['jobs:read' as const] };
    const secret = await server.core.jobs.signingSecret(principal);
    const verified = new Webhook(secret.ok ? secret.value : '').verify(callback.body, headersOf(callback)) as {
      type: string;
      data: Record<string, any>;
    };
    expect(verified.type).toBe('job.succeeded');
    expect(verified.data).toMatchObject({ jobId: accepted.body.job_id, state: 'succeeded', response: { status: 200 } });

    const status = await until(
      () => getWithBody('/status', { ...credentials, job_id: accepted.body.job_id }),
      (r) => r.body.notified !== 'false',
    );
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      jobId: accepted.body.job_id,
      lastUpdate: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{6}$/),
      status: 'completed',
      output: {
        outcome: 'completed',
        status: 200,
        body: JSON.stringify({ echoed: JSON.stringify(data) }),
        bodyEncoding: 'utf8',
      },
      notified: 'true',
      notifyoutput: { outcome: 'callback sent', status: 200 },
      service: `${receiver.url}/service`,
    });
  });

  it('reports a job whose service and callback both refuse connections, after its retries (the failed example)', async () => {
    const service = `http://127.0.0.1:${await closedPort()}/service`;
    const retries = { maxAttempts: 2, scheduleMs: [0, 200] };
    const accepted = await post({
      ...credentials,
      service,
      methodtype: 'POST',
      headers: {},
      callback: `http://127.0.0.1:${await closedPort()}/callback`,
      data: '{"userId": 1}',
      retry_policy: retries,
      callback_retry_policy: retries,
    });
    expect(accepted.body.status).toBe('accepted');
    const running = await getWithQuery('/status', { ...credentials, job_id: accepted.body.job_id });
    expect(['accepted', 'running', 'completed']).toContain(running.body.status);
    const status = await until(
      () => getWithQuery('/status', { ...credentials, job_id: accepted.body.job_id }),
      (r) => r.body.notified !== 'false',
    );
    expect(status.body).toMatchObject({
      jobId: accepted.body.job_id,
      status: 'completed',
      output: { outcome: 'failed', status: null, error: expect.stringMatching(/^connection failed: ECONNREFUSED/) },
      notified: 'notification failed',
      notifyoutput: { outcome: 'callback failed', status: null, error: expect.stringMatching(/ECONNREFUSED/) },
      service,
    });
    const job = await server.core.jobs.get(
      { user: client.user, via: 'password', scopes: ['jobs:read'] },
      accepted.body.job_id,
    );
    expect(job.ok && job.value.attempts).toBe(2);
  });

  it("answers its failures in its own words, and stores nothing: not JSON, bad credentials, unknown jobs, another client's job", async () => {
    const before = await storedJobs();
    expect(await post('client_id=x', 'application/x-www-form-urlencoded')).toEqual({
      status: 400,
      body: { message: 'request type must be JSON', status: 'failed' },
    });
    expect((await post('{"client_id": ', 'application/json')).body.status).toBe('failed');
    expect(
      await post({ client_id: credentials.client_id, verify_token: 'wrong', service: 'http://127.0.0.1/' }),
    ).toEqual({
      status: 401,
      body: { status: 'bad credentials' },
    });
    const reader = (await client.token(['jobs:read'])).secret.split('_');
    const narrow = await post({ client_id: reader[1], verify_token: reader[2], service: `${receiver.url}/service` });
    expect(narrow.status).toBe(403);
    expect(narrow.body.status).toBe('bad credentials');
    const invalid = await post({ ...credentials, service: 'ftp://example.com/', methodtype: 'BREW' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.fields.map((f: { path: string }) => f.path).sort()).toEqual(['methodtype', 'service']);
    expect(await storedJobs()).toBe(before);

    expect(await getWithBody('/webhook', credentials)).toEqual({ status: 200, body: { status: 'success' } });
    expect(await getWithQuery('/webhook', credentials)).toEqual({ status: 200, body: { status: 'success' } });
    expect((await getWithBody('/webhook', { ...credentials, verify_token: 'nope' })).body).toEqual({
      status: 'bad credentials',
    });
    for (const job_id of ['6b7d7b4b-6d76-4fed-8306-330cb945cca0', 'not-a-job']) {
      expect(await getWithBody('/status', { ...credentials, job_id })).toEqual({
        status: 404,
        body: { status: 'No job with that ID exists' },
      });
    }
    const mine = await post({ ...credentials, service: `${receiver.url}/service`, data: { n: 1 } });
    const other = await factories(server.core).user();
    const theirs = (await other.token(['jobs:read', 'jobs:write'])).secret.split('_');
    expect(
      await getWithBody('/status', { client_id: theirs[1], verify_token: theirs[2], job_id: mine.body.job_id }),
    ).toEqual({
      status: 404,
      body: { status: 'No job with that ID exists' },
    });
    expect((await getWithBody('/status', { ...credentials, job_id: mine.body.job_id, verify_token: 'x' })).status).toBe(
      401,
    );
  });
});
