/**
 * Ingest benchmark: `POST /q/bench` (HMAC-SHA256 verified, stored before the 2xx) against a bare
 * node:http server loaded the same way in the same run, because the machine is shared and absolute
 * figures drift. Both servers run as their own processes so that autocannon (here) does not share
 * their event loop. Settings: BENCH_DURATION (seconds, default 15), BENCH_CONNECTIONS (default 64),
 * BENCH_CPU_PROF=<dir> (write a --cpu-prof profile of the Switchboard process there).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import postgres from 'postgres';
import { killAllChildren, startProcess } from './bench-process.ts';

// Read once, by destructuring: these are a benchmark's knobs, not settings turbo caches on.
const { BENCH_DURATION, BENCH_CONNECTIONS, BENCH_POSTGRES_URL, BENCH_CPU_PROF } = process.env;
const DURATION = Number(BENCH_DURATION ?? 15);
const CONNECTIONS = Number(BENCH_CONNECTIONS ?? 64);
const WARMUP = 3;
const PG_URL = BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TARGET = { rps: 10_000, p99: 25 }; // DESIGN.md, "Performance targets"
const SECRET = 's3cret';

// 1 KB of JSON, signed once: the load generator must not spend its CPU on HMACs.
const body = (() => {
  const base = { event: 'bench.ingest', id: 'evt_0001', data: { padding: '' } };
  base.data.padding = 'x'.repeat(1024 - JSON.stringify(base).length);
  return Buffer.from(JSON.stringify(base));
})();
const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;

async function load(url: string, seconds: number) {
  // Per connection, requests written minus responses read: what autocannon cut off when it stopped
  // (it destroys its sockets with requests in flight; the server may still store those).
  const pending = new Map<object, number>();
  const result = await autocannon({
    url: `${url}/q/bench`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'content-type': 'application/json', 'x-signature': signature },
    body,
    setupClient(client: NodeJS.EventEmitter) {
      pending.set(client, 0);
      client.on('request', () => pending.set(client, (pending.get(client) ?? 0) + 1));
      client.on('response', () => pending.set(client, (pending.get(client) ?? 0) - 1));
    },
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    inFlightAtStop: [...pending.values()].reduce((a, b) => a + Math.max(0, b), 0),
  };
}

/** Warm-up (not reported, but its 2xx count for the durability check), then the measured run. */
async function measure(name: string, url: string) {
  process.stdout.write(`${name}: warm-up ${WARMUP} s, then ${DURATION} s at ${CONNECTIONS} connections\n`);
  const warm = await load(url, WARMUP);
  const run = await load(url, DURATION);
  return { run, warm };
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const dbName = `sb_bench_${randomBytes(4).toString('hex')}`;
const dbUrl = Object.assign(new URL(PG_URL), { pathname: `/${dbName}` }).toString();
const tmp = mkdtempSync(join(tmpdir(), 'sb-bench-'));
const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
const bench = postgres(dbUrl, { max: 1, onnotice: () => {} });
let cleaning: Promise<void> | undefined;

/** Kills the servers, drops the database; run once, from the normal end, the watchdog or Ctrl-C. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    killAllChildren();
    await bench.end({ timeout: 5 });
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

    const baselineServer = await startProcess('the baseline server', ['bench/baseline-server.mjs'], {}, '/');
    const baseline = await measure('baseline', baselineServer.url).finally(() => baselineServer.stop());

    // The queue comes from a config file, so it exists before the server answers /readyz:
    // nothing depends on a NOTIFY reaching the server's registry in time.
    const config = join(tmp, 'switchboard.json');
    const verification = {
      method: 'hmac',
      secret: SECRET,
      algorithm: 'sha256',
      encoding: 'hex',
      header: 'x-signature',
    };
    const queue = { name: 'bench', verification: { ...verification, prefix: 'sha256=' } };
    writeFileSync(config, JSON.stringify({ queues: [queue] }));
    const profile = BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${BENCH_CPU_PROF}`] : [];
    const server = await startProcess(
      'switchboard',
      [...profile, 'apps/api/bin/switchboard.mjs', 'serve'],
      {
        DATABASE_URL: dbUrl,
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        ADMIN_PASSWORD: randomBytes(12).toString('hex'),
        SWITCHBOARD_CONFIG: config,
        DATA_DIR: join(tmp, 'data'),
      },
      '/readyz',
    );
    const commits = async () =>
      Number((await bench`select xact_commit from pg_stat_database where datname = ${dbName}`)[0]?.xact_commit ?? 0);
    const commitsBefore = await commits();
    // Graceful stop: the server commits whatever it was handed before it exits, so the count below is final.
    const sb = await measure('switchboard POST /q/bench', server.url).catch(async (error) => {
      await server.stop();
      throw error;
    });
    const exitCode = await server.stop();
    if (exitCode !== 0) process.stderr.write(`switchboard exited with ${exitCode}:\n${server.output()}\n`);
    // Backends flush their statistics when they exit; the server's are gone now.
    await new Promise((r) => setTimeout(r, 500));
    const commitsDuring = (await commits()) - commitsBefore;
    const [row] = await bench`select count(*)::int as stored, max(seq) as last_seq from messages`;
    const stored = Number(row?.stored);

    const [b, s] = [baseline.run, sb.run];
    const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');
    const ratio = (a: number, c: number) => fmt(a / c, 2);
    // Latencies are whole milliseconds: autocannon's histogram has no finer resolution.
    const table = [
      ['', 'switchboard', 'baseline', 'ratio', 'DESIGN target'],
      ['requests/s', fmt(s.rps), fmt(b.rps), ratio(s.rps, b.rps), `>= 10,000 ${met(s.rps >= TARGET.rps)}`],
      ['latency p50 (ms)', fmt(s.p50), fmt(b.p50), ratio(s.p50, b.p50), ''],
      ['latency p99 (ms)', fmt(s.p99), fmt(b.p99), ratio(s.p99, b.p99), `<= 25 ${met(s.p99 <= TARGET.p99)}`],
      ['non-2xx / errors', `${s.non2xx} / ${s.errors}`, `${b.non2xx} / ${b.errors}`, '', 'must be 0'],
    ];
    console.log('');
    for (const [what = '', sw = '', base = '', r = '', target = ''] of table) {
      console.log(`${what.padEnd(18)}${sw.padStart(13)}${base.padStart(13)}${r.padStart(8)}   ${target}`);
    }
    const ok2xx = sb.warm.ok2xx + s.ok2xx;
    const cut = sb.warm.inFlightAtStop + s.inFlightAtStop;
    const perCommit = fmt(stored / Math.max(1, commitsDuring), 1);
    console.log(`\nstored messages: ${fmt(stored)} (highest seq ${row?.last_seq})`);
    console.log(`2xx answers incl. warm-up: ${fmt(ok2xx)}; cut off in flight when autocannon stopped: ${cut}`);
    console.log(`postgres commits in the Switchboard phase: ${fmt(commitsDuring)} (${perCommit} messages/commit)`);

    const failures: string[] = [];
    if (exitCode !== 0) failures.push(`switchboard exited with ${exitCode} when stopped`);
    for (const [name, r] of Object.entries({ switchboard: s, 'switchboard warm-up': sb.warm, baseline: b })) {
      if (r.non2xx > 0 || r.errors > 0) failures.push(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    }
    // Every answered message must be stored. The only extra rows allowed are the requests autocannon
    // abandoned when it stopped: the server had them in full and stored them, but nobody read the answer.
    if (stored < ok2xx || stored > ok2xx + cut) {
      failures.push(`durability: ${stored} stored, expected ${ok2xx} (answered) to ${ok2xx + cut} (+ abandoned)`);
    }
    for (const failure of failures) console.error(`FAIL ${failure}`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    await cleanup();
  }
}

// Bounded: two warm-ups and two runs, server starts, drains and clean-up, with room to spare.
const limitMs = (2 * (WARMUP + DURATION) + 180) * 1000;
const abort = (why: string) => {
  console.error(`FAIL ${why}`);
  // Clean-up gets 20 s; the exit handler kills the servers in any case.
  setTimeout(() => process.exit(1), 20_000).unref();
  cleanup().finally(() => process.exit(1));
};
const watchdog = setTimeout(() => abort(`the benchmark did not finish within ${limitMs / 1000} s`), limitMs);
process.once('SIGINT', () => abort('interrupted'));
process.exitCode = await main().catch((error) => {
  console.error(`FAIL ${error instanceof Error ? error.message : String(error)}`);
  return 1;
});
clearTimeout(watchdog);
