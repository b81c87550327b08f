/**
 * Actions benchmark: messages accepted per second through a queue with two header rules, a body
 * rule and a `forward` action, end to end (every forward received by a local receiver), against
 * plain ingest (no rules, no actions) measured in the same run on the same server. The receiver
 * runs as its own process, and so does the server, so that autocannon (here) shares neither's
 * event loop. Settings: BENCH_DURATION (seconds, default 15), BENCH_CONNECTIONS (default 64),
 * BENCH_CPU_PROF=<dir> (write a --cpu-prof profile of the Switchboard process there).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { killAllChildren, now, sleep, startProcess } from './bench-process.ts';

const { BENCH_DURATION, BENCH_CONNECTIONS, BENCH_POSTGRES_URL, BENCH_CPU_PROF, BENCH_DELIVERY_CONCURRENCY } =
  process.env;
const DURATION = Number(BENCH_DURATION ?? 15);
const CONNECTIONS = Number(BENCH_CONNECTIONS ?? 64);
const WARMUP = 3;
const PG_URL = BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The target: through rules and a forward, at least half of plain ingest's rate. */
const TARGET_RATIO = 0.5;
/** How long the forwards may take to arrive after the load stops. */
const DRAIN_LIMIT_MS = 180_000;

// 1 KB of JSON that the rules accept.
const body = (() => {
  const base = {
    event: 'order.created',
    order: { id: 'ord_0001', lines: [{ sku: 'ABC-1' }, { sku: 'XYZ-22' }] },
    padding: '',
  };
  base.padding = 'x'.repeat(1024 - JSON.stringify(base).length);
  return Buffer.from(JSON.stringify(base));
})();
const headers = {
  'content-type': 'application/json',
  'x-shop-topic': 'orders/create',
  'x-shop-domain': 'bench.example',
};

async function load(url: string, seconds: number) {
  const result = await autocannon({ url, method: 'POST', connections: CONNECTIONS, duration: seconds, headers, body });
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const dbName = `sb_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = Object.assign(new URL(PG_URL), { pathname: `/${dbName}` }).toString();
const tmp = mkdtempSync(join(tmpdir(), 'sb-bench-'));
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killAllChildren();
    await admin
      .unsafe(`drop database if exists ${dbName} with (force)`)
      .catch((e) => console.error(`could not drop ${dbName}: ${e}`));
    await admin.end({ timeout: 5 });
    rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

async function main(): Promise<number> {
  try {
    await admin.unsafe(`create database ${dbName}`);
    const receiver = await startProcess('the receiver', ['bench/delivery-receiver.mjs'], {}, '/_bench/stats');
    const stats = async () =>
      (await (await fetch(`${receiver.url}/_bench/stats`)).json()) as { count: number; first: number; last: number };
    const config = join(tmp, 'switchboard.json');
    writeFileSync(
      config,
      JSON.stringify({
        queues: [
          { name: 'plain' },
          {
            name: 'actions',
            rules: {
              headers: { 'X-Shop-Topic': '^orders/(create|update)$', 'X-Shop-Domain': '^[a-z0-9.-]+$' },
              body: { order: { id: '^ord_[0-9]+$' } },
            },
            actions: [{ forward: { target: `${receiver.url}/hook` } }],
          },
        ],
      }),
    );
    const server = await startProcess(
      'switchboard',
      [
        ...(BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${BENCH_CPU_PROF}`] : []),
        'apps/api/bin/switchboard.mjs',
        'serve',
      ],
      {
        DATABASE_URL: dbUrl,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        ADMIN_PASSWORD: randomBytes(12).toString('hex'),
        SWITCHBOARD_CONFIG: config,
        DATA_DIR: join(tmp, 'data'),
        DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8',
        ...(BENCH_DELIVERY_CONCURRENCY ? { DELIVERY_CONCURRENCY: BENCH_DELIVERY_CONCURRENCY } : {}),
      },
      '/readyz',
    );
    try {
      process.stdout.write(`plain ingest: warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections\n`);
      await load(`${server.url}/q/plain`, WARMUP);
      const plain = await load(`${server.url}/q/plain`, DURATION);

      process.stdout.write(
        `rules + forward: warm-up ${WARMUP} s (drained), then ${DURATION} s at ${CONNECTIONS} connections\n`,
      );
      const warm = await load(`${server.url}/q/actions`, WARMUP);
      for (const deadline = now() + DRAIN_LIMIT_MS; (await stats()).count < warm.ok2xx && now() < deadline; )
        await sleep(100);
      await fetch(`${receiver.url}/_bench/reset`);
      const started = now();
      const run = await load(`${server.url}/q/actions`, DURATION);
      const loadEnded = now();
      let received = await stats();
      while (received.count < run.ok2xx && now() - loadEnded < DRAIN_LIMIT_MS) {
        await sleep(100);
        received = await stats();
      }
      // Accepted and forwarded, end to end: from the load's start to the last forward's arrival.
      const spanS = (Math.max(received.last, loadEnded) - started) / 1000;
      const endToEnd = Math.min(run.ok2xx, received.count) / spanS;
      const ratio = endToEnd / plain.rps;
      const lagMs = received.last - loadEnded;
      console.log('');
      console.log(`${''.padEnd(40)}${'per second'.padStart(12)}${'p99 ms'.padStart(9)}`);
      console.log(
        `${'plain ingest (no rules, no actions)'.padEnd(40)}${fmt(plain.rps).padStart(12)}${fmt(plain.p99).padStart(9)}`,
      );
      console.log(`${'rules + forward: accepted'.padEnd(40)}${fmt(run.rps).padStart(12)}${fmt(run.p99).padStart(9)}`);
      console.log(`${'rules + forward: end to end'.padEnd(40)}${fmt(endToEnd).padStart(12)}`);
      console.log(
        `\nend to end / plain ingest: ${fmt(ratio, 2)} (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT MET'})`,
      );
      console.log(
        `forwards received: ${fmt(received.count)} of ${fmt(run.ok2xx)} accepted; the last ${fmt(Math.max(0, lagMs))} ms after the load stopped`,
      );
      const failures: string[] = [];
      for (const [name, r] of Object.entries({ plain, actions: run })) {
        if (r.non2xx > 0 || r.errors > 0) failures.push(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      }
      if (received.count < run.ok2xx)
        failures.push(`only ${received.count} of ${run.ok2xx} forwards arrived within ${DRAIN_LIMIT_MS / 1000} s`);
      for (const failure of failures) console.error(`FAIL ${failure}`);
      return failures.length > 0 ? 1 : 0;
    } finally {
      await server.stop();
      await receiver.stop();
    }
  } finally {
    await cleanup();
  }
}

const limitMs = (2 * (WARMUP + DURATION) + (2 * DRAIN_LIMIT_MS) / 1000 + 120) * 1000;
const watchdog = setTimeout(() => {
  console.error('FAIL the benchmark did not finish in time');
  cleanup().finally(() => process.exit(1));
}, limitMs);
process.once('SIGINT', () => cleanup().finally(() => process.exit(1)));
process.exitCode = await main().catch((error) => {
  console.error(`FAIL ${error instanceof Error ? error.message : String(error)}`);
  return 1;
});
clearTimeout(watchdog);
