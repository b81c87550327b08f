import { randomUUID } from 'node:crypto';
import { type Core, systemPrincipal } from '@switchboard/core';
import { must, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CLI_TIMEOUT_MS,
  type CliRun,
  type CliTarget,
  createCliTarget,
  expectCleanFailure,
  runCliAt,
  withCliCore,
} from './cli-runner.ts';

const kind = getTestDatabaseKind();
const JOB_ID = /^created job ([0-9a-f-]{36}) \(accepted\)$/m;

let target: (CliTarget & { remove(): Promise<void> }) | undefined;

const runCli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  runCliAt(target ?? {}, args, { env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8', ...extraEnv } });
const withCore = <T>(run: (core: Core) => Promise<T>) => withCliCore(target ?? {}, run);

/** `jobs create` as alice, to this URL. */
function createAsAlice(url: string, ...rest: string[]): Promise<CliRun> {
  return runCli(['jobs', 'create', '--user', 'alice', '--url', url, ...rest]);
}

function createdId(run: CliRun): string {
  const id = JOB_ID.exec(run.stdout)?.[1];
  if (!id) throw new Error(`no job id in: ${run.stdout}${run.stderr}`);
  return id;
}

describe(`jobs commands on ${kind}`, () => {
  let receiver: TestReceiver;
  /** The job `jobs create --wait` sent, for `jobs show`. */
  let sentJobId = '';

  beforeAll(async () => {
    target = await createCliTarget('sb-cli-jobs-');
    receiver = await startReceiver((request) => {
      if (request.path === '/fail') return { status: 500, body: 'broken' };
      if (request.path === '/missing') return { status: 404, body: 'no such thing' };
      return { status: 201, body: 'stored\nsecond line' };
    });
    await withCore(async (core) => {
      must(await core.users.create(systemPrincipal, { username: 'alice', password: 'alice-password' }));
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await target?.remove();
  });

  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it(
    'jobs create --wait sends the request from this process and prints the outcome',
    async () => {
      const run = await createAsAlice(
        `${receiver.url}/hook?x=1`,
        '--method',
        'put',
        '--header',
        'X-Trace: t-1',
        '--header',
        'Content-Type:text/plain',
        '--data',
        'hello, job',
        '--callback',
        `${receiver.url}/callback`,
        '--wait',
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(receiver.requests.map((r) => r.path)).toEqual(['/hook?x=1', '/callback']);
      const [request, callback] = receiver.requests;
      expect(request?.method).toBe('PUT');
      expect(request?.path).toBe('/hook?x=1');
      expect(request?.headers['x-trace']).toBe('t-1');
      expect(request?.headers['content-type']).toBe('text/plain');
      expect(request?.body.toString('utf8')).toBe('hello, job');
      sentJobId = createdId(run);
      // The callback is sent in the same run, signed, with the outcome.
      expect(callback?.headers['webhook-signature']).toMatch(/^v1,/);
      expect(JSON.parse(callback?.body.toString('utf8') ?? '')).toMatchObject({
        type: 'job.succeeded',
        data: { jobId: sentJobId, state: 'succeeded', attempts: 1, response: { status: 201 } },
      });
      expect(run.stdout).toMatch(/^state:\s+succeeded$/m);
      expect(run.stdout).toMatch(/^attempts:\s+1$/m);
      expect(run.stdout).toMatch(/^last:\s+201$/m);
      expect(run.stdout).toMatch(/^response:\s+stored …$/m);
      expect(run.stdout).toContain(`callback:  ${receiver.url}/callback: notified (201)`);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'jobs show prints the job and lists its attempt',
    async () => {
      expect(sentJobId).not.toBe('');
      const run = await runCli(['jobs', 'show', sentJobId]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^job:\\s+${sentJobId}$`, 'm'));
      expect(run.stdout).toMatch(/^owner:\s+alice$/m);
      expect(run.stdout).toContain(`request:   PUT ${receiver.url}/hook?x=1`);
      expect(run.stdout).toMatch(/^state:\s+succeeded$/m);
      expect(run.stdout).toMatch(/^finished:\s+\d{4}-\d\d-\d\dT\S+Z$/m);
      expect(run.stdout).toMatch(/^ATTEMPT\s+STARTED\s+RESULT\s+DURATION\s+OUTCOME$/m);
      expect(run.stdout).toMatch(/^1\s+\d{4}-\d\d-\d\dT\S+Z\s+201\s+\d+ ms\s+succeeded$/m);
      expect(receiver.requests).toHaveLength(0);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'jobs create --wait: --max-attempts 1 fails at the first 500 and exits 1; --accept counts a 404 as success',
    async () => {
      const failed = await createAsAlice(`${receiver.url}/fail`, '--max-attempts', '1', '--wait');
      expectCleanFailure(failed);
      expect(failed.stderr).toBe('switchboard: the job failed\n');
      expect(failed.stdout).toMatch(/^state:\s+failed$/m);
      expect(failed.stdout).toMatch(/^last:\s+500$/m);
      expect(failed.stdout).toMatch(/^response:\s+broken$/m);
      expect(failed.stdout).toMatch(/^callback:\s+none$/m);

      const accepted = await createAsAlice(
        `${receiver.url}/missing`,
        '--method',
        'GET',
        '--accept',
        '200,404',
        '--wait',
      );
      expect(accepted.stderr).toBe('');
      expect(accepted.code).toBe(0);
      expect(accepted.stdout).toMatch(/^state:\s+succeeded$/m);
      expect(accepted.stdout).toMatch(/^last:\s+404$/m);
      expect(receiver.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /fail', 'GET /missing']);
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'jobs create without --wait leaves the job accepted for the server worker, its body as given',
    async () => {
      const run = await createAsAlice(
        `${receiver.url}/later`,
        '--data-base64',
        'AAEC/w==',
        '--callback',
        `${receiver.url}/callback`,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n')).toHaveLength(1);
      const id = createdId(run);
      expect(receiver.requests).toHaveLength(0);
      const job = await withCore(async (core) => must(await core.jobs.get(systemPrincipal, id)));
      expect(job.state).toBe('accepted');
      expect(job.attempts).toBe(0);
      expect(job.method).toBe('POST');
      expect(job.body).toEqual(Buffer.from([0, 1, 2, 255]));

      const show = await runCli(['jobs', 'show', id]);
      expect(show.code).toBe(0);
      expect(show.stdout).toMatch(/^state:\s+accepted$/m);
      expect(show.stdout).toMatch(/^last:\s+not attempted$/m);
      expect(show.stdout).toContain(`callback:  ${receiver.url}/callback: waits for the job to end`);
      expect(show.stdout).toMatch(/^finished:\s+not yet$/m);
      expect(show.stdout).toMatch(/^no attempts yet$/m);
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'jobs create refuses a header without a colon, --data with --data-base64, and an unknown user, in one line',
    async () => {
      const header = await createAsAlice(`${receiver.url}/hook`, '--header', 'X-Trace t-1');
      expectCleanFailure(header);
      expect(header.stderr).toBe('switchboard: --header "X-Trace t-1" is not "Name: value"\n');

      const both = await createAsAlice(`${receiver.url}/hook`, '--data', 'a', '--data-base64', 'YQ==');
      expectCleanFailure(both);
      expect(both.stderr).toBe('switchboard: give --data or --data-base64, not both\n');

      const unknown = await runCli(['jobs', 'create', '--user', 'ghost', '--url', `${receiver.url}/hook`]);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toBe('switchboard: No user named "ghost"\n');
      expect(receiver.requests).toHaveLength(0);
    },
    3 * CLI_TIMEOUT_MS,
  );

  it(
    'jobs create names each field core refuses, private addresses included unless DELIVERY_ALLOWED_NETWORKS lists them',
    async () => {
      const invalid = await createAsAlice('ftp://example.com/x', '--method', 'fetch', '--timeout-ms', '5');
      expectCleanFailure(invalid);
      expect(invalid.stderr).toMatch(/^switchboard: The job is not valid$/m);
      expect(invalid.stderr).toMatch(/^ {2}url: must be an http\(s\) URL/m);
      expect(invalid.stderr).toMatch(/^ {2}method: must be one of GET, POST/m);
      expect(invalid.stderr).toMatch(/^ {2}timeoutMs: /m);

      const loopback = await runCli(['jobs', 'create', '--user', 'alice', '--url', `${receiver.url}/hook`], {
        DELIVERY_ALLOWED_NETWORKS: '',
      });
      expectCleanFailure(loopback);
      expect(loopback.stderr).toMatch(/^ {2}url: /m);
      const count = await withCore(
        async (core) => must(await core.jobs.list(systemPrincipal, {}, { limit: 100 })).length,
      );
      // The four jobs the tests above created, and none of these.
      expect(count).toBe(4);
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'jobs show refuses an unknown or malformed id in one line',
    async () => {
      const id = randomUUID();
      const unknown = await runCli(['jobs', 'show', id]);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toBe(`switchboard: No job with the id "${id}"\n`);

      const malformed = await runCli(['jobs', 'show', 'not-a-job']);
      expectCleanFailure(malformed);
      expect(malformed.stderr).toBe('switchboard: No job with the id "not-a-job"\n');
    },
    2 * CLI_TIMEOUT_MS,
  );
});
