/**
 * Delivery benchmark on a fresh Postgres database, with a bare node:http receiver in its own process:
 *
 * 1. Backlog drain: N events are published before any worker runs; then a `ROLE=worker` process
 *    starts, and the time from the receiver's first request until every delivery is `succeeded` in
 *    the database gives deliveries/s (signed, every attempt recorded). Baseline in the same run:
 *    graphile-worker with its local queue, concurrency 24, POSTing the same bodies to the same
 *    receiver, timed the same way (first request until its job table is empty).
 * 2. Latency at a steady rate: a `ROLE=all` server, events published at R/s; each payload carries
 *    its send time and the receiver subtracts it from the time the delivery arrived.
 * 3. Fan-out: one event to M subscriptions; publish until the M-th request arrives.
 *
 * A benchmark reports: a missed target still exits 0. It exits 1 when it could not measure (a
 * process died, deliveries went missing or failed). Settings: see `--help`; BENCH_POSTGRES_URL,
 * BENCH_CPU_PROF=<dir> (a --cpu-prof profile of each Switchboard process there).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeWorkerUtils } from 'graphile-worker';
import postgres from 'postgres';
import { type BenchProcess, killAllChildren, now, sleep, spawnProcess, startProcess } from './bench-process.ts';
import {
  type BenchCore,
  choosePublisher,
  createSubscriptions,
  EVENT_TYPES,
  openBenchCore,
  type Publisher,
  publishThroughCore,
} from './delivery-setup.ts';

const USAGE = `npm run bench:delivery -- [options]

  --events <n>         backlog size for the drain (default 20000)
  --rate <n>           events/s in the latency phase (default 1000)
  --duration <s>       seconds of measured load in the latency phase (default 10; 2 more of warm-up)
  --subscriptions <n>  subscriptions in the fan-out phase (default 1000)
  --fanout-runs <n>    measured fan-out events, after one warm-up (default 3)
  --help               this text

Environment: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
BENCH_CPU_PROF=<dir> (write a --cpu-prof profile of each Switchboard process there).`;

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    subscriptions: { type: 'string', default: '1000' },
    'fanout-runs': { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const positive = (name: string, value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a whole number above 0\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const EVENTS = positive('events', flags.events);
const RATE = positive('rate', flags.rate);
const DURATION = positive('duration', flags.duration);
const SUBSCRIPTIONS = positive('subscriptions', flags.subscriptions);
const FANOUT_RUNS = positive('fanout-runs', flags['fanout-runs']);
const WARMUP_SECONDS = 2;

// Read once, by destructuring: these are a benchmark's knobs, not settings turbo caches on.
const { BENCH_POSTGRES_URL, BENCH_CPU_PROF } = process.env;
const PG_URL = BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TARGET = { drainPerSecond: 6_000, p50: 10, p99: 50, fanoutMs: 1_000 }; // DESIGN.md, "Performance targets"

const dbName = `sb_bench_delivery_${randomBytes(4).toString('hex')}`;
const dbUrl = Object.assign(new URL(PG_URL), { pathname: `/${dbName}` }).toString();
const tmp = mkdtempSync(join(tmpdir(), 'sb-bench-delivery-'));
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
const bench = postgres(dbUrl, { max: 2, onnotice: () => {} });
let benchCore: BenchCore | undefined;
let cleaning: Promise<void> | undefined;

/** About 1 KB of envelope per event, as in the ingest benchmark. */
const PADDING = 'x'.repeat(900);
const payloadFor = (seq: number) => ({ seq, sentAt: now(), padding: PADDING });

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const log = (line: string) => process.stdout.write(`${line}\n`);

function switchboardArgs(): string[] {
  const profile = BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${BENCH_CPU_PROF}`] : [];
  return [...profile, 'apps/api/bin/switchboard.mjs', 'serve'];
}

function switchboardEnv(role: 'all' | 'worker'): Record<string, string> {
  return {
    ROLE: role,
    DATABASE_URL: dbUrl,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ADMIN_PASSWORD: randomBytes(12).toString('hex'),
    DATA_DIR: join(tmp, 'data'),
    DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8',
  };
}

interface ReceiverStats {
  count: number;
  first: number;
  last: number;
  distinctPaths: number;
}

async function receiverStats(receiver: BenchProcess): Promise<ReceiverStats> {
  return (await (await fetch(`${receiver.url}/_bench/stats`)).json()) as ReceiverStats;
}

async function resetReceiver(receiver: BenchProcess, latency = false): Promise<void> {
  await fetch(`${receiver.url}/_bench/reset${latency ? '?latency=1' : ''}`, { method: 'POST' });
}

/** Polls the receiver until it has `count` requests; throws after `timeoutMs` without progress. */
async function waitForReceipts(
  receiver: BenchProcess,
  count: number,
  watch: BenchProcess[],
  timeoutMs = 30_000,
): Promise<ReceiverStats> {
  let stats = await receiverStats(receiver);
  let progressAt = Date.now();
  let seen = stats.count;
  while (stats.count < count) {
    for (const p of watch) p.checkAlive();
    if (Date.now() - progressAt > timeoutMs) {
      throw new Error(`the receiver got ${stats.count} of ${count} requests; none came for ${timeoutMs / 1000} s`);
    }
    await sleep(10);
    stats = await receiverStats(receiver);
    if (stats.count > seen) [seen, progressAt] = [stats.count, Date.now()];
  }
  return stats;
}

/** Transactions this process ran on the benchmark database, so that commit counts can leave them out. */
let ownTransactions = 0;

/** Polls the database until `done` says so (every 10 ms); resolves to the time it saw that. */
async function waitForDatabase(done: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    ownTransactions++;
    if (await done()) return now();
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await sleep(10);
  }
}

/**
 * Commits on the benchmark database, read from another database's connection. Backends report
 * their counts at most once a second and when they exit, hence the wait before reading.
 */
async function readCommits(): Promise<number> {
  await sleep(1_500);
  const [row] = await admin`select xact_commit from pg_stat_database where datname = ${dbName}`;
  return Number(row?.xact_commit ?? 0);
}

/** Runs `task(i)` for i in [0, count) with `parallel` of them at once. */
async function forEachParallel(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane));
}

/** Vacuumed and analysed, with a checkpoint: both queues start a drain from the same state. */
async function settleDatabase(): Promise<void> {
  await bench.unsafe('vacuum analyze');
  await bench.unsafe('checkpoint');
}

interface DrainResult {
  perSecond: number;
  seconds: number;
  /** From spawning the worker process, its start-up included. */
  wallSeconds: number;
  received: number;
  /** Postgres commits while the worker ran (its own, plus autovacuum's if it came by). */
  commits: number;
}

/**
 * Starts a worker process on a backlog that is already in the database and times it from the
 * receiver's first request until `isDone` (a query) sees the backlog finished. The worker is
 * stopped before its commits are counted.
 */
async function drain(
  receiver: BenchProcess,
  worker: { name: string; args: string[]; env: Record<string, string> },
  isDone: () => Promise<boolean>,
): Promise<DrainResult> {
  await resetReceiver(receiver);
  await settleDatabase();
  const commitsBefore = await readCommits();
  const ownBefore = ownTransactions;
  const started = await spawnProcess(worker.name, worker.args, worker.env);
  let result: Omit<DrainResult, 'commits'>;
  try {
    await waitForReceipts(receiver, EVENTS, [started]);
    const doneAt = await waitForDatabase(isDone, `${worker.name} finishing the backlog`);
    const stats = await receiverStats(receiver);
    const seconds = (doneAt - stats.first) / 1000;
    result = {
      perSecond: EVENTS / seconds,
      seconds,
      wallSeconds: (doneAt - started.spawnedAt) / 1000,
      received: stats.count,
    };
  } finally {
    const code = await started.stop();
    if (code !== 0) log(`${worker.name} exited with ${code}:\n${started.output()}`);
  }
  const commits = (await readCommits()) - commitsBefore - (ownTransactions - ownBefore);
  return { ...result, commits };
}

async function drainSwitchboard(receiver: BenchProcess): Promise<DrainResult & { attempts: number }> {
  log(`switchboard: draining ${fmt(EVENTS)} deliveries with a ROLE=worker process`);
  const result = await drain(
    receiver,
    { name: 'switchboard worker', args: switchboardArgs(), env: switchboardEnv('worker') },
    async () => {
      const [row] = await bench`select count(*)::int as open from deliveries where status in ('pending', 'delivering')`;
      return row?.open === 0;
    },
  );
  const [row] = await bench`
    select count(*) filter (where status = 'succeeded')::int as succeeded,
           (select count(*)::int from delivery_attempts) as attempts
    from deliveries`;
  if (row?.succeeded !== EVENTS) throw new Error(`${row?.succeeded} of ${EVENTS} deliveries succeeded`);
  return { ...result, attempts: Number(row?.attempts) };
}

/** The same bodies as Switchboard's events, one job each, enqueued before its worker starts. */
async function enqueueBaseline(): Promise<void> {
  const utils = await makeWorkerUtils({ connectionString: dbUrl });
  try {
    await utils.migrate();
    const rows = await bench<{ body: Buffer }[]>`select body from events where type = ${EVENT_TYPES.backlog}`;
    const bodies = rows.map((r) => r.body.toString('utf8'));
    for (let i = 0; i < bodies.length; i += 2_000) {
      await utils.addJobs(bodies.slice(i, i + 2_000).map((body) => ({ identifier: 'post', payload: { body } })));
    }
  } finally {
    await utils.release();
  }
}

async function drainBaseline(receiver: BenchProcess): Promise<DrainResult> {
  log(`graphile-worker: draining ${fmt(EVENTS)} jobs`);
  return drain(
    receiver,
    {
      name: 'graphile-worker',
      args: ['bench/graphile-worker-baseline.mjs'],
      env: { DATABASE_URL: dbUrl, RECEIVER_URL: `${receiver.url}/baseline` },
    },
    async () => {
      const [row] = await bench`select count(*)::int as open from graphile_worker._private_jobs`;
      return row?.open === 0;
    },
  );
}

interface RateRun {
  sent: number;
  accepted: number;
  failures: string[];
  /** How long the publish requests took, ms. */
  publishLatencies: number[];
  /** From the first send to the last answer, ms: longer than planned when the server fell behind. */
  elapsedMs: number;
}

/** Publishes at `rate`/s for `seconds`: each event is sent at its own time, not in bursts. */
async function publishAtRate(publisher: Publisher, rate: number, seconds: number): Promise<RateRun> {
  const total = Math.round(rate * seconds);
  const run: RateRun = { sent: 0, accepted: 0, failures: [], publishLatencies: [], elapsedMs: 0 };
  const inFlight = new Set<Promise<void>>();
  const start = now();
  while (run.sent < total) {
    const due = Math.min(total, Math.floor(((now() - start) * rate) / 1000) + 1);
    while (run.sent < due) {
      const seq = run.sent++;
      const payload = payloadFor(seq);
      const sending = publisher.publish(EVENT_TYPES.latency, payload).then(
        (result) => {
          run.publishLatencies.push(now() - payload.sentAt);
          if (result.ok) run.accepted++;
          else run.failures.push(result.error);
        },
        (error: unknown) => void run.failures.push(String(error)),
      );
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending));
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  run.elapsedMs = now() - start;
  return run;
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number);

interface LatencyResult {
  p50: number;
  p99: number;
  max: number;
  arrived: number;
  accepted: number;
  sent: number;
  failures: string[];
  unstamped: number;
  publishP50: number;
  publishP99: number;
  /** Publishes answered per second over the measured run. */
  publishRate: number;
  /** From the envelope's timestamp (the server taking the event) to the receipt. */
  acceptedP50: number;
  acceptedP99: number;
}

async function measureLatency(
  receiver: BenchProcess,
  server: BenchProcess,
  publisher: Publisher,
): Promise<LatencyResult> {
  log(`latency: warm-up ${WARMUP_SECONDS} s, then ${DURATION} s at ${fmt(RATE)} events/s`);
  await resetReceiver(receiver);
  const warm = await publishAtRate(publisher, RATE, WARMUP_SECONDS);
  await waitForReceipts(receiver, warm.accepted, [server], 15_000);
  await resetReceiver(receiver, true);
  const run = await publishAtRate(publisher, RATE, DURATION);
  // Whatever has not arrived 10 s after the last publish counts as not arrived.
  await waitForReceipts(receiver, run.accepted, [server], 10_000).catch((error: Error) =>
    log(`latency: ${error.message}`),
  );
  const { latencies, sinceAccepted, unstamped } = (await (await fetch(`${receiver.url}/_bench/latencies`)).json()) as {
    latencies: number[];
    sinceAccepted: number[];
    unstamped: number;
  };
  // Per second of the run, in arrival order: shows whether the tail is steady or one stall.
  const perSecond = Math.max(1, Math.round(latencies.length / DURATION));
  const slices: string[] = [];
  for (let i = 0; i < latencies.length; i += perSecond) {
    const slice = latencies.slice(i, i + perSecond).sort((a, b) => a - b);
    slices.push(`${fmt(quantile(slice, 0.5), 0)}/${fmt(quantile(slice, 0.99), 0)}`);
  }
  log(`latency: p50/p99 (ms) of each second, in arrival order: ${slices.join(' ')}`);
  const sorted = latencies.sort((a, b) => a - b);
  const acceptedSorted = sinceAccepted.sort((a, b) => a - b);
  const publishSorted = run.publishLatencies.sort((a, b) => a - b);
  return {
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    arrived: sorted.length,
    accepted: run.accepted,
    sent: run.sent,
    failures: [...warm.failures, ...run.failures],
    unstamped,
    publishP50: quantile(publishSorted, 0.5),
    publishP99: quantile(publishSorted, 0.99),
    publishRate: (run.accepted * 1000) / run.elapsedMs,
    acceptedP50: quantile(acceptedSorted, 0.5),
    acceptedP99: quantile(acceptedSorted, 0.99),
  };
}

async function measureFanout(
  receiver: BenchProcess,
  server: BenchProcess,
  publisher: Publisher,
  core: BenchCore,
): Promise<number[]> {
  log(`fan-out: creating ${fmt(SUBSCRIPTIONS)} subscriptions`);
  await createSubscriptions(core, {
    eventType: EVENT_TYPES.fanout,
    count: SUBSCRIPTIONS,
    name: (i) => `fanout-${String(i).padStart(5, '0')}`,
    url: (i) => `${receiver.url}/fanout/${i}`,
  });
  // The server hears of them through NOTIFY; its matcher reloads on the next publish.
  await sleep(1_000);
  const times: number[] = [];
  for (let run = 0; run <= FANOUT_RUNS; run++) {
    await resetReceiver(receiver);
    const sentAt = now();
    const published = await publisher.publish(EVENT_TYPES.fanout, { run, sentAt });
    if (!published.ok) throw new Error(`publishing the fan-out event failed: ${published.error}`);
    const stats = await waitForReceipts(receiver, SUBSCRIPTIONS, [server], 15_000);
    if (stats.distinctPaths !== SUBSCRIPTIONS) throw new Error(`${stats.distinctPaths} distinct paths received`);
    await waitForDatabase(async () => {
      const [row] = await bench`select count(*)::int as open from deliveries where status in ('pending', 'delivering')`;
      return row?.open === 0;
    }, 'the fan-out deliveries finishing');
    const ms = stats.last - sentAt;
    // The first event is a warm-up: the matcher loads the new subscriptions then.
    log(`fan-out ${run === 0 ? 'warm-up' : `run ${run}`}: ${fmt(ms, 1)} ms to the ${fmt(SUBSCRIPTIONS)}th receipt`);
    if (run > 0) times.push(ms);
  }
  return times;
}

/** Kills the processes, drops the database; once, from the normal end, the watchdog or Ctrl-C. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killAllChildren();
    await benchCore?.close().catch(() => {});
    await bench.end({ timeout: 5 });
    await admin
      .unsafe(`drop database if exists ${dbName} with (force)`)
      .catch((e) => console.error(`could not drop ${dbName}: ${e}`));
    await admin.end({ timeout: 5 });
    rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

function printReport(
  drain: { sb: DrainResult & { attempts: number }; base: DrainResult; publishSeconds: number },
  latency: LatencyResult,
  fanout: number[],
  via: string,
): void {
  const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');
  const sortedFanout = [...fanout].sort((a, b) => a - b);
  const fanoutMedian = quantile(sortedFanout, 0.5);
  const fanoutWorst = sortedFanout[sortedFanout.length - 1] ?? Number.NaN;
  const ratio = drain.sb.perSecond / drain.base.perSecond;
  const drainMet = drain.sb.perSecond >= TARGET.drainPerSecond && ratio >= 1;
  const table: string[][] = [
    ['', 'switchboard', 'baseline', 'ratio', 'DESIGN target'],
    [
      'backlog drain (deliveries/s)',
      fmt(drain.sb.perSecond),
      fmt(drain.base.perSecond),
      fmt(ratio, 2),
      `>= 6,000 and >= baseline: ${met(drainMet)}`,
    ],
    ['  drain time (s)', fmt(drain.sb.seconds, 2), fmt(drain.base.seconds, 2), '', ''],
    ['  incl. process start (s)', fmt(drain.sb.wallSeconds, 2), fmt(drain.base.wallSeconds, 2), '', ''],
    [
      '  postgres commits / 1,000',
      fmt((drain.sb.commits * 1000) / EVENTS),
      fmt((drain.base.commits * 1000) / EVENTS),
      '',
      '',
    ],
    [`latency p50 (ms) @ ${fmt(RATE)}/s`, fmt(latency.p50, 1), '-', '', `<= 10: ${met(latency.p50 <= TARGET.p50)}`],
    ['latency p99 (ms)', fmt(latency.p99, 1), '-', '', `<= 50: ${met(latency.p99 <= TARGET.p99)}`],
    ['latency max (ms)', fmt(latency.max, 1), '-', '', ''],
    ['arrived / published', `${fmt(latency.arrived)} / ${fmt(latency.accepted)}`, '-', '', 'all'],
    [
      `fan-out ${fmt(SUBSCRIPTIONS)} subs, median (ms)`,
      fmt(fanoutMedian, 1),
      '-',
      '',
      `<= 1,000: ${met(fanoutMedian <= TARGET.fanoutMs)}`,
    ],
    [
      `fan-out worst of ${fanout.length} (ms)`,
      fmt(fanoutWorst, 1),
      '-',
      '',
      `<= 1,000: ${met(fanoutWorst <= TARGET.fanoutMs)}`,
    ],
  ];
  log('');
  for (const [what = '', sb = '', base = '', r = '', target = ''] of table) {
    log(`${what.padEnd(32)}${sb.padStart(14)}${base.padStart(11)}${r.padStart(7)}   ${target}`);
  }
  log('');
  log(
    `backlog: ${fmt(EVENTS)} events to one subscription, published through core in ${fmt(drain.publishSeconds, 1)} s ` +
      `(${fmt(EVENTS / drain.publishSeconds)} events/s, 32 at a time) before any worker ran`,
  );
  log(
    `backlog: Standard Webhooks signatures, ${fmt(drain.sb.attempts)} attempts recorded; ` +
      'graphile-worker: concurrency 24, localQueue 500, completeJobBatchDelay 0, bare undici POST',
  );
  log("drain time: from the receiver's first request until the database shows every delivery (job) done");
  log(
    `latency: published via ${via}; publish request p50 ${fmt(latency.publishP50, 1)} ms, p99 ${fmt(latency.publishP99, 1)} ms`,
  );
  log(
    `latency: ${fmt(latency.sent)} sent, ${fmt(latency.accepted)} accepted (${fmt(latency.publishRate)}/s answered), ` +
      `${fmt(latency.arrived)} arrived in time`,
  );
  log(
    `latency from the event's timestamp (the server taking it) to receipt: p50 ${fmt(latency.acceptedP50, 1)} ms, ` +
      `p99 ${fmt(latency.acceptedP99, 1)} ms (millisecond timestamps)`,
  );
  log(`fan-out runs (ms): ${fanout.map((t) => fmt(t, 1)).join(', ')}`);
  log('2 shared cores: absolute figures drift from run to run; the ratio is the steadier figure');
}

async function main(): Promise<number> {
  const failures: string[] = [];
  try {
    await admin.unsafe(`create database ${dbName}`);
    benchCore = await openBenchCore(dbUrl);
    const receiver = await startProcess('receiver', ['bench/delivery-receiver.mjs'], {}, '/_bench/stats');
    for (const [name, type] of [
      ['backlog', EVENT_TYPES.backlog],
      ['latency', EVENT_TYPES.latency],
    ] as const) {
      await createSubscriptions(benchCore, {
        eventType: type,
        count: 1,
        name: () => name,
        url: () => `${receiver.url}/${name}`,
      });
    }

    // 1. Backlog: published through core while no worker runs.
    log(`backlog: publishing ${fmt(EVENTS)} events (no worker running)`);
    const direct = publishThroughCore(benchCore);
    const publishStart = now();
    await forEachParallel(EVENTS, 32, async (i) => {
      const result = await direct.publish(EVENT_TYPES.backlog, payloadFor(i));
      if (!result.ok) throw new Error(`publishing backlog event ${i} failed: ${result.error}`);
    });
    const publishSeconds = (now() - publishStart) / 1000;
    log(`backlog: published in ${fmt(publishSeconds, 1)} s; enqueueing the same bodies for graphile-worker`);
    await enqueueBaseline();
    const base = await drainBaseline(receiver);
    log(`graphile-worker: ${fmt(base.perSecond)} jobs/s (${fmt(base.seconds, 2)} s)`);
    const sb = await drainSwitchboard(receiver);
    log(`switchboard: ${fmt(sb.perSecond)} deliveries/s (${fmt(sb.seconds, 2)} s)`);
    if (sb.attempts !== EVENTS) failures.push(`${sb.attempts} attempts recorded for ${EVENTS} deliveries`);
    for (const [name, r] of [
      ['switchboard', sb],
      ['graphile-worker', base],
    ] as const) {
      if (r.received !== EVENTS) log(`${name}: the receiver counted ${r.received} requests for ${EVENTS}`);
    }

    // 2 and 3 on one ROLE=all server.
    const server = await startProcess('switchboard', switchboardArgs(), switchboardEnv('all'), '/readyz');
    let latency: LatencyResult;
    let fanout: number[];
    let via: string;
    try {
      const publisher = await choosePublisher(server.url, benchCore, EVENT_TYPES.fanout);
      via = publisher.via;
      log(`publishing via ${via}`);
      try {
        latency = await measureLatency(receiver, server, publisher);
        fanout = await measureFanout(receiver, server, publisher, benchCore);
      } finally {
        await publisher.close();
      }
    } finally {
      const code = await server.stop();
      if (code !== 0) failures.push(`switchboard exited with ${code} when stopped:\n${server.output()}`);
    }
    await receiver.stop();
    printReport({ sb, base, publishSeconds }, latency, fanout, via);
    if (latency.failures.length > 0) {
      failures.push(`${latency.failures.length} publishes failed, the first: ${latency.failures[0]}`);
    }
    if (latency.unstamped > 0) failures.push(`${latency.unstamped} latency deliveries carried no send time`);
    if (latency.arrived < latency.accepted) {
      failures.push(`${latency.accepted - latency.arrived} latency deliveries did not arrive within 10 s`);
    }
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    await cleanup();
  }
  for (const failure of failures) console.error(`FAIL ${failure}`);
  return failures.length > 0 ? 1 : 0;
}

// Bounded, whatever the flags: about a minute and a half at the defaults.
const limitMs = 300_000;
const abort = (why: string) => {
  console.error(`FAIL ${why}`);
  setTimeout(() => process.exit(1), 20_000).unref();
  cleanup().finally(() => process.exit(1));
};
const watchdog = setTimeout(() => abort(`the benchmark did not finish within ${limitMs / 1000} s`), limitMs);
process.once('SIGINT', () => abort('interrupted'));
process.exitCode = await main();
clearTimeout(watchdog);
