import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { findFreePort } from '../test/processes.ts';

const run = promisify(execFile);

/**
 * A Postgres cluster of the fault suite's own, on a port of its own, that a test may stop, start,
 * freeze (SIGSTOP on every one of its processes) and thaw, without touching the machine's
 * cluster on 5432. Built with the machine's `initdb` and `pg_ctl` (the Debian `postgresql-15`
 * package is all it needs), in a temporary folder, trusting connections from 127.0.0.1 only.
 */
export interface PrivatePostgres {
  readonly port: number;
  /** A URL for one database of this cluster. */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl stop -m fast`: sessions are ended and new connections refused. */
  stop(): Promise<void>;
  /** Starts again and resolves once the cluster accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP to the postmaster and every backend: sockets stay open and nothing answers. */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  destroy(): Promise<void>;
}

/** The server programs of the newest Postgres installed from Debian's packages. */
export function findPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const preferred = versions.includes('15') ? '15' : versions[0];
  if (!preferred) throw new Error('No Postgres server programs under /usr/lib/postgresql: install postgresql-15');
  return join(root, preferred, 'bin');
}

/** Postgres refuses to run as root: as root, its programs run as the `postgres` account. */
function asClusterOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid) throw new Error('Running as root, but there is no postgres account to run Postgres as');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = findPostgresBin();
  const owner = asClusterOwner();
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-faults-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = await findFreePort();

  const exec = async (program: string, args: string[]) => {
    const command = owner
      ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]]
      : [join(bin, program), args];
    try {
      return await run(command[0] as string, command[1] as string[], { timeout: 60_000 });
    } catch (error) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
      throw new Error(`${program} ${args.join(' ')} failed: ${(error as Error).message}\n${tail}`);
    }
  };

  await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C']);
  // Loopback TCP only, and a socket folder of its own so that it never meets the machine's cluster.
  await appendFile(
    join(data, 'postgresql.conf'),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'fsync = off',
      'max_connections = 100',
      '',
    ].join('\n'),
  );
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');

  const postmasterPid = (): number => {
    const first = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
    return Number(first);
  };
  /** The postmaster and its children (backends, checkpointer, walwriter, ...). */
  const processes = (): number[] => {
    const root = postmasterPid();
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          // The parent pid is the fourth field, after the command in parentheses.
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === root;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [root, ...children];
  };
  const signalAll = (signal: NodeJS.Signals) => {
    for (const pid of processes()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
  };

  let frozen = false;
  let running = false;
  const start = async () => {
    await exec('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', 'start']);
    running = true;
  };
  await start();

  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const sql = postgres(url(), { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`create database "${name.replaceAll('"', '""')}"`);
      } finally {
        await sql.end({ timeout: 5 });
      }
      return url(name);
    },
    async stop() {
      await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    start,
    async freeze() {
      // The postmaster first, so that it forks no new backend while the others are stopped.
      signalAll('SIGSTOP');
      frozen = true;
    },
    async thaw() {
      signalAll('SIGCONT');
      frozen = false;
    },
    async destroy() {
      try {
        if (frozen) signalAll('SIGCONT');
        if (running) await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
