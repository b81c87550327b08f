import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, getTestDatabaseKind } from '@switchboard/db/testing';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `switchboard serve` as its own process, waited for until it answers /readyz. */
export async function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const port = await findFreePort();
  let output = '';
  const child = spawn(process.execPath, ['apps/api/bin/switchboard.mjs', 'serve'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited at start:\n${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    output: () => output,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Settings that point a server process at a database of its own: a fresh Postgres database, or an
 * embedded-database folder under `dir`. `drop` removes the Postgres one afterwards.
 */
export async function processDatabaseEnv(
  dir: string,
): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  if (getTestDatabaseKind() === 'postgres') {
    const database = await createTestDatabase({ migrate: false });
    await database.client.close();
    // drop() closes the client first; it is already closed, which it tolerates.
    return { env: { DATABASE_URL: database.url as string }, drop: () => database.drop().catch(() => {}) };
  }
  return { env: { DATA_DIR: join(dir, 'data') }, drop: async () => {} };
}
