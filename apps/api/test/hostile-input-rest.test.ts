import { SCOPES } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, bearer, gql, startTestServer, type TestServer } from './harness.ts';
import {
  CONTROL_STRING,
  EXTREME_DATES,
  type HostileCase,
  isServerFailure,
  LONG_STRING,
  mapBounded,
  NUL_STRING,
} from './hostile-values.ts';

type Auth = 'basic' | 'bearer' | 'none';

/**
 * A valid request for each route, which the walk then spoils one field at a time. A route with no
 * sample here fails the walk, so that a new route cannot go untested.
 */
interface Sample {
  auth: Auth;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: Record<string, unknown>;
}

let server: TestServer;
let token: { id: string; secret: string; authorization: string };
let jobId: string;

function samples(): Record<string, Sample | 'covered elsewhere'> {
  const credentials = { client_id: token.id, verify_token: token.secret };
  const job = { url: 'https://example.com/job', method: 'POST', headers: { 'X-A': 'b' }, body: 'hello' };
  return {
    'GET /metrics': { auth: 'none' },
    'GET /healthz': { auth: 'none' },
    'GET /readyz': { auth: 'none' },
    'GET /time': { auth: 'none' },
    'GET /read/:client': { auth: 'basic', params: { client: 'fixture-client' } },
    'GET /listen/:client/:queue': { auth: 'basic', params: { client: 'fixture-client', queue: 'fixture-queue' } },
    'GET /unlisten/:client': { auth: 'basic', params: { client: 'another-client' } },
    // The admin's password must survive the walk, so the current password given is a wrong one.
    'POST /setPassword': { auth: 'basic', body: { password: 'a-new-password-for-admin' } },
    'POST /reload': { auth: 'basic' },
    'POST /q/:queue': { auth: 'none', params: { queue: 'fixture-queue' }, body: { hello: 'world' } },
    // The methods a queue takes when its rules name them; this one takes POST and answers 405.
    'GET /q/:queue': { auth: 'none', params: { queue: 'fixture-queue' } },
    'PUT /q/:queue': { auth: 'none', params: { queue: 'fixture-queue' }, body: { hello: 'world' } },
    'PATCH /q/:queue': { auth: 'none', params: { queue: 'fixture-queue' }, body: { hello: 'world' } },
    'DELETE /q/:queue': { auth: 'none', params: { queue: 'fixture-queue' } },
    'POST /events': { auth: 'bearer', body: { type: 'fixture.created', payload: { n: 1 }, idempotencyKey: 'k-1' } },
    'POST /jobs': { auth: 'bearer', body: { ...job, callbackUrl: 'https://example.com/cb', timeoutMs: 1000 } },
    'GET /jobs/:id': { auth: 'bearer', params: { id: jobId } },
    'POST /jobs/:id/cancel': { auth: 'bearer', params: { id: jobId } },
    'GET /webhook': { auth: 'none', query: credentials },
    'POST /webhook': {
      auth: 'none',
      body: { ...credentials, service: job.url, methodtype: 'post', headers: job.headers, data: { a: 1 } },
    },
    'GET /status': { auth: 'none', query: { ...credentials, job_id: jobId } },
    'POST /webhooks/account': { auth: 'bearer', body: { user_id: 'walker-account', user_email: 'a@example.com' } },
    'POST /webhooks/subscribe': { auth: 'bearer', body: { event: 'fixture.created', url: 'https://example.com/s' } },
    'POST /webhooks/trigger': { auth: 'bearer', body: { event: 'fixture.created', payload: { n: 1 } } },
    // The console's files (apps/console/out), by any path the API's routes leave.
    'GET *': { auth: 'none', params: { '*': 'queues/' } },
    'GET /graphql': 'covered elsewhere',
    'POST /graphql': 'covered elsewhere',
    'OPTIONS /graphql': 'covered elsewhere',
  };
}

/** Method and path of every route, read from Fastify's own route tree (HEAD mirrors GET). */
function listRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(match[2] ?? '');
    for (const method of match[3]?.split(', ') ?? []) if (method !== 'HEAD') routes.push(`${method} ${stack.join('')}`);
  }
  return routes;
}

const STRING_CASES: HostileCase[] = [
  { kind: 'NUL', value: NUL_STRING },
  { kind: 'control character', value: CONTROL_STRING },
  { kind: 'overlong', value: LONG_STRING },
  ...EXTREME_DATES.map((value) => ({ kind: `date ${value}`, value })),
  { kind: 'long cursor', value: `999999999999999:${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}` },
];
const NUMBER_CASES: HostileCase[] = [
  { kind: 'huge number', value: 1e308 },
  { kind: 'beyond a safe integer', value: 2 ** 63 },
  { kind: 'negative', value: -2_147_483_649 },
];

/** Every leaf of a sample body with the hostile values for its kind, and NUL in each object's keys. */
function* spoil(value: unknown, path: string[]): Generator<{ path: string[]; kind: string; value: unknown }> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    yield { path, kind: 'NUL in a key', value: { ...(value as object), [NUL_STRING]: 'v' } };
    for (const [key, inner] of Object.entries(value)) yield* spoil(inner, [...path, key]);
    return;
  }
  for (const c of typeof value === 'number' ? NUMBER_CASES : STRING_CASES) yield { path, ...c };
}

function replaceAt(root: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  if (path.length === 0) return value as Record<string, unknown>;
  const [head, ...rest] = path as [string, ...string[]];
  return { ...root, [head]: replaceAt((root[head] ?? {}) as Record<string, unknown>, rest, value) };
}

interface Probe {
  label: string;
  method: string;
  path: string;
  authorization?: string;
  body?: string;
}

function probesFor(route: string, sample: Sample): Probe[] {
  const [method, pattern] = route.split(' ') as [string, string];
  const authorization =
    sample.auth === 'basic'
      ? basic(ADMIN.username, ADMIN.password)
      : sample.auth === 'bearer'
        ? token.authorization
        : undefined;
  const url = (params: Record<string, string>, query: Record<string, string>) => {
    // `:name` parameters, and a trailing `*` (the console's files: any path) as the parameter `*`.
    const filled = pattern.replace(/:(\w+)|\*$/g, (_, name: string | undefined) =>
      name === undefined ? encodeURI(params['*'] ?? 'x') : encodeURIComponent(params[name] ?? 'x'),
    );
    const path = filled.startsWith('/') ? filled : `/${filled}`;
    const search = new URLSearchParams(query).toString();
    return search ? `${path}?${search}` : path;
  };
  const params = sample.params ?? {};
  const query = sample.query ?? {};
  const body = sample.body ? JSON.stringify(sample.body) : undefined;
  const probes: Probe[] = [];
  const strings = STRING_CASES.filter((c) => typeof c.value === 'string') as Array<{ kind: string; value: string }>;
  for (const name of Object.keys(params)) {
    for (const c of strings) {
      const path = url({ ...params, [name]: c.value }, query);
      probes.push({ label: `${route} :${name} with ${c.kind}`, method, path, authorization, body });
    }
  }
  for (const name of [...Object.keys(query), 'extra']) {
    for (const c of strings.filter((s) => s.value.length < 100_000)) {
      const path = url(params, { ...query, [name]: c.value });
      probes.push({ label: `${route} ?${name} with ${c.kind}`, method, path, authorization, body });
    }
  }
  if (sample.body) {
    for (const spoilt of spoil(sample.body, [])) {
      probes.push({
        label: `${route} body.${spoilt.path.join('.')} with ${spoilt.kind}`,
        method,
        path: url(params, query),
        authorization,
        body: JSON.stringify(replaceAt(sample.body, spoilt.path, spoilt.value)),
      });
    }
  }
  if (sample.auth === 'basic') {
    for (const username of [NUL_STRING, CONTROL_STRING, 'x'.repeat(10_000)]) {
      probes.push({
        label: `${route} Basic username with ${username.length > 100 ? 'overlong' : JSON.stringify(username)}`,
        method,
        path: url(params, query),
        authorization: basic(username, 'whatever'),
        body,
      });
    }
  }
  return probes;
}

async function send(probe: Probe): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (probe.authorization) headers.authorization = probe.authorization;
  if (probe.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${probe.path}`, {
    method: probe.method,
    headers,
    body: probe.method === 'GET' ? undefined : probe.body,
  });
  return { status: res.status, text: await res.text() };
}

describe('every REST route refuses hostile values with a client error', () => {
  beforeAll(async () => {
    server = await startTestServer();
    const admin = await server.core.users.findByUsername(ADMIN.username);
    if (!admin) throw new Error('no admin');
    const created = await server.core.tokens.create(
      { user: admin, via: 'password', scopes: SCOPES },
      { name: 'hostile-walker', scopes: [...SCOPES] },
    );
    if (!created.ok) throw new Error(created.error.message);
    const [, id, secret] = /^sb_([^_]+)_(.+)$/.exec(created.value.secret) ?? [];
    token = { id: id ?? '', secret: secret ?? '', authorization: bearer(created.value.secret) };
    const auth = { authorization: token.authorization };
    await gql(
      server,
      'mutation { createQueue(input: {name: "fixture-queue", verification: {method: NONE}}) { __typename } }',
      auth,
    );
    await gql(server, 'mutation { listen(client: "fixture-client", queue: "fixture-queue") { __typename } }', auth);
    await gql(server, 'mutation { createEventType(input: {name: "fixture.created"}) { __typename } }', auth);
    const job = await gql(
      server,
      'mutation { createJob(input: {url: "https://example.com/j"}) { ... on CreateJobSuccess { job { id } } } }',
      auth,
    );
    jobId = job.body.data?.createJob.job.id;
    if (!jobId) throw new Error(`no job: ${JSON.stringify(job.body)}`);
  });
  afterAll(async () => {
    await server?.close();
  });

  const adminBasic = () => basic(ADMIN.username, ADMIN.password);

  it('finding 9: a NUL in a path (/read/a%00b) answers 400 naming the parameter', async () => {
    for (const path of ['/read/a%00b', '/listen/a%00b/fixture-queue', '/unlisten/a%01b', '/jobs/a%00b']) {
      const res = await fetch(`${server.url}${path}`, { headers: { authorization: adminBasic() } });
      expect(res.status, path).toBe(400);
      const body = await res.json();
      expect(body.fields?.[0]?.path, path).toMatch(/^(client|id)$/);
      expect(body.message).toBe(body.error);
    }
  });

  it('finding 9: a NUL in a Basic username answers 400 before authentication, on REST and GraphQL', async () => {
    for (const path of ['/read/fixture-client', '/graphql?query=%7Bme%7Bid%7D%7D']) {
      const res = await fetch(`${server.url}${path}`, {
        headers: { authorization: basic('ad\u0000min', ADMIN.password), accept: 'application/json' },
      });
      expect(res.status, path).toBe(400);
      expect((await res.json()).fields).toEqual([
        { path: 'authorization username', message: expect.stringMatching(/NUL/) },
      ]);
    }
    // Core never asks the database about such a name either.
    const verified = await server.core.auth.verifyCredentials('ad\u0000min', ADMIN.password);
    expect(verified.ok ? null : verified.error.code).toBe('UNAUTHENTICATED');
  });

  it('finding 9: a NUL in a job header value answers 400 naming the header, on /jobs and /webhook', async () => {
    const jobs = await fetch(`${server.url}/jobs`, {
      method: 'POST',
      headers: { authorization: token.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://example.com/j', headers: { 'X-A': NUL_STRING } }),
    });
    expect(jobs.status).toBe(400);
    expect((await jobs.json()).fields).toEqual([{ path: 'headers.X-A', message: expect.stringMatching(/NUL/) }]);
    const waas = await fetch(`${server.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: token.id,
        verify_token: token.secret,
        service: 'https://example.com/j',
        headers: { 'X-A': NUL_STRING },
      }),
    });
    expect(waas.status).toBe(400);
    expect((await waas.json()).fields).toEqual([{ path: 'headers.X-A', message: expect.stringMatching(/NUL/) }]);
  });

  it('finding 9: a NUL in a query string or a JSON body field answers 400 naming it; payloads keep theirs', async () => {
    const query = await fetch(`${server.url}/status?client_id=${token.id}&verify_token=${token.secret}&job_id=a%00b`);
    expect(query.status).toBe(400);
    expect((await query.json()).fields?.[0]?.path).toBe('job_id');
    const key = await fetch(`${server.url}/events`, {
      method: 'POST',
      headers: { authorization: token.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'fixture.created', payload: {}, idempotencyKey: NUL_STRING }),
    });
    expect(key.status).toBe(400);
    expect((await key.json()).fields?.[0]?.path).toBe('idempotencyKey');
    // An event's payload is stored as bytes and sent as given: a NUL in it is data, not an error.
    const payload = await fetch(`${server.url}/events`, {
      method: 'POST',
      headers: { authorization: token.authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'fixture.created', payload: { s: NUL_STRING } }),
    });
    expect(payload.status).toBe(202);
  });

  it('walks the path parameters, query strings, body fields and Basic usernames of every route: no 5xx', async () => {
    const routes = listRoutes(server.switchboard.app.printRoutes({ commonPrefix: false }));
    const known = samples();
    expect(
      routes.filter((route) => !(route in known)),
      'routes without a sample in this test',
    ).toEqual([]);
    const probes = routes.flatMap((route) => {
      const sample = known[route];
      return sample && sample !== 'covered elsewhere' ? probesFor(route, sample) : [];
    });
    expect(probes.length).toBeGreaterThan(200);
    const failures = await mapBounded(probes, 6, async (probe) => {
      const res = await send(probe);
      return isServerFailure(res.status, res.text) ? `${probe.label}: ${res.status} ${res.text.slice(0, 200)}` : null;
    });
    expect(failures.filter(Boolean)).toEqual([]);
  }, 600_000);
});
