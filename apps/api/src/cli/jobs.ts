import { type Core, type DeliveryAttempt, type Job, type JobDefinition, systemPrincipal } from '@switchboard/core';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError, expect, findUser, formatTable, withCore } from './context.ts';

/** How long `jobs create --wait` keeps sending before it leaves the job to the server's worker. */
const WAIT_MS = 30_000;
const ENDED = new Set<Job['state']>(['succeeded', 'failed', 'cancelled']);
/** The most of a response body's first line that is printed. */
const RESPONSE_PREVIEW_CHARS = 200;

interface CreateOptions {
  user: string;
  url: string;
  method?: string;
  header?: string[];
  data?: string;
  dataBase64?: string;
  callback?: string;
  timeoutMs?: number;
  maxAttempts?: number;
  accept?: number[];
  wait?: boolean;
}

/** HTTP jobs: a request Switchboard makes for a user, with retries, then reports to a callback URL. */
export function addJobCommands(program: Command): void {
  const jobs = program.command('jobs').description('create and inspect HTTP jobs');
  jobs
    .command('create')
    .description('create a job owned by a user and print its id; with --wait, send it now and print the outcome')
    .requiredOption('--user <username>', 'owner of the job')
    .requiredOption('--url <url>', 'where the request goes')
    .option('--method <method>', 'GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (default POST)')
    .option('--header <"Name: value">', 'a request header; repeat for more', collect)
    .option('--data <text>', 'the request body, sent as UTF-8 (no Content-Type is added: give one with --header)')
    .option('--data-base64 <base64>', 'the request body as base64, sent as those exact bytes')
    .option('--callback <url>', 'where the outcome is POSTed once the job has ended')
    .option('--timeout-ms <n>', 'how long one attempt may take (default 15000)', parseInteger)
    .option('--max-attempts <n>', 'attempts before the job fails', parseInteger)
    .option('--accept <status,...>', 'statuses that count as success (default any 2xx)', parseStatuses)
    .option(
      '--wait',
      `send it (and its callback) from this process now, waiting up to ${WAIT_MS / 1000} s for it to end`,
    )
    .action(async (options: CreateOptions) => {
      const definition = toDefinition(options);
      const { lines, failure } = await withCore((core) => createJob(core, options, definition), {
        sendsItself: Boolean(options.wait),
      });
      console.log(lines.join('\n'));
      if (failure) throw new CliError(failure);
    });
  jobs
    .command('show <id>')
    .description('print a job and every attempt of its request')
    .action(async (id: string) => {
      const output = await withCore(async (core) => {
        const found = await core.jobs.get(systemPrincipal, id);
        if (!found.ok && found.error.code === 'NOT_FOUND') throw new CliError(`No job with the id "${id}"`);
        const job = expect(found);
        const [owner] = await core.users.loadByIds([job.userId]);
        const attempts = (await core.jobs.attemptsOf([job.id])).get(job.id) ?? [];
        const lines = [`job:       ${job.id}`, `owner:     ${owner?.username ?? job.userId}`, ...describeJob(job), ''];
        lines.push(attempts.length > 0 ? formatAttempts(attempts) : 'no attempts yet');
        return lines.join('\n');
      });
      console.log(output);
    });
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function parseInteger(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

function parseStatuses(value: string): number[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0 || parts.some((s) => !/^\d{3}$/.test(s))) {
    throw new InvalidArgumentError('must be HTTP statuses separated by commas, such as 200,404');
  }
  return parts.map(Number);
}

/** curl's `-H 'Name: value'`; a name given twice (in any case) is sent once, its values joined as HTTP lists are. */
function parseHeaders(values: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const spelled = new Map<string, string>();
  for (const raw of values) {
    const colon = raw.indexOf(':');
    const name = raw.slice(0, colon).trim();
    if (colon < 0 || name === '') throw new CliError(`--header "${raw}" is not "Name: value"`);
    const value = raw.slice(colon + 1).trim();
    const first = spelled.get(name.toLowerCase());
    if (first === undefined) {
      spelled.set(name.toLowerCase(), name);
      headers[name] = value;
    } else {
      headers[first] = `${headers[first]}, ${value}`;
    }
  }
  return headers;
}

/** Ranges and formats are left to core, so that the CLI reports the same problems as the API. */
function toDefinition(options: CreateOptions): JobDefinition {
  if (options.data !== undefined && options.dataBase64 !== undefined) {
    throw new CliError('give --data or --data-base64, not both');
  }
  return {
    url: options.url,
    // Methods are case-sensitive in HTTP, but every one a job may use is upper case.
    ...(options.method !== undefined ? { method: options.method.toUpperCase() as JobDefinition['method'] } : {}),
    headers: parseHeaders(options.header ?? []),
    body: options.data ?? null,
    bodyBase64: options.dataBase64 ?? null,
    callbackUrl: options.callback ?? null,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.maxAttempts !== undefined ? { retryPolicy: { maxAttempts: options.maxAttempts } } : {}),
    acceptedStatuses: options.accept ?? null,
  };
}

async function createJob(
  core: Core,
  options: CreateOptions,
  definition: JobDefinition,
): Promise<{ lines: string[]; failure?: string }> {
  const user = await findUser(core, options.user);
  const created = expect(await core.jobs.create(systemPrincipal, definition, { userId: user.id }));
  const lines = [`created job ${created.id} (${created.state})`];
  if (!options.wait) return { lines };

  // Scoped to this job's request and callback: nothing else that is due is sent from here.
  const worker = core.createWorker({ jobId: created.id });
  const deadline = Date.now() + WAIT_MS;
  let job = created;
  // A server's worker on the same database may take it first; its outcome is read all the same.
  while (!isSettled(job) && Date.now() < deadline) {
    if ((await worker.runOnce()) === 0) await new Promise((r) => setTimeout(r, 100));
    job = expect(await core.jobs.get(systemPrincipal, job.id));
  }
  lines.push(...describeJob(job));
  if (job.state === 'succeeded') return { lines };
  if (ENDED.has(job.state)) return { lines, failure: `the job ${job.state === 'failed' ? 'failed' : 'was cancelled'}` };
  return { lines, failure: `the job has not ended within ${WAIT_MS / 1000} s; the server's worker goes on with it` };
}

/**
 * Ended, and its callback (if any) tried once. The callback is waited for too because with the
 * embedded database no server can run beside the CLI to send it, and the outcome is worth printing.
 */
function isSettled(job: Job): boolean {
  if (!ENDED.has(job.state)) return false;
  return !job.callbackUrl || job.notifyState !== 'pending' || job.notifyStatusCode !== null || job.notifyError !== null;
}

function describeJob(job: Job): string[] {
  const last =
    job.lastStatusCode !== null
      ? String(job.lastStatusCode)
      : job.lastError !== null
        ? `error: ${job.lastError}`
        : 'not attempted';
  const lines = [
    `request:   ${job.method} ${job.url}`,
    `state:     ${job.state}`,
    `attempts:  ${job.attempts}`,
    `last:      ${last}`,
  ];
  if (job.lastStatusCode !== null) lines.push(`response:  ${previewBody(job.responseBody, job.responseTruncated)}`);
  lines.push(
    `callback:  ${describeCallback(job)}`,
    `created:   ${job.createdAt.toISOString()}`,
    `finished:  ${job.finishedAt ? job.finishedAt.toISOString() : 'not yet'}`,
  );
  return lines;
}

function describeCallback(job: Job): string {
  if (!job.callbackUrl) return 'none';
  const result = job.notifyStatusCode !== null ? String(job.notifyStatusCode) : job.notifyError;
  if (job.notifyState === null) return `${job.callbackUrl}: waits for the job to end`;
  if (job.notifyState !== 'pending') return `${job.callbackUrl}: ${job.notifyState} (${result ?? 'no answer'})`;
  return result === null
    ? `${job.callbackUrl}: pending (not sent yet)`
    : `${job.callbackUrl}: pending (last try: ${result}); a worker tries again`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The first line of a text body, shortened; a binary body only by its size. */
function previewBody(body: Buffer | null, truncated: boolean): string {
  if (!body || body.length === 0) return '(empty body)';
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return `(${body.length} bytes, not UTF-8 text${truncated ? ', truncated' : ''})`;
  }
  // A body that merely ends in a newline is one line.
  const [first = '', ...rest] = text.replace(/\r?\n$/, '').split(/\r?\n/);
  const shown = first.slice(0, RESPONSE_PREVIEW_CHARS);
  const more = rest.length > 0 || shown.length < first.length || truncated;
  return `${shown}${more ? ' …' : ''}`;
}

function formatAttempts(attempts: readonly DeliveryAttempt[]): string {
  const rows = attempts.map((a) => [
    String(a.number),
    a.startedAt.toISOString(),
    a.statusCode !== null ? String(a.statusCode) : `error: ${a.error ?? 'none recorded'}`,
    `${a.durationMs} ms`,
    a.succeeded ? 'succeeded' : 'failed',
  ]);
  return formatTable(['ATTEMPT', 'STARTED', 'RESULT', 'DURATION', 'OUTCOME'], rows);
}
