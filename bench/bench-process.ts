/**
 * Child processes for the benchmarks: servers, receivers and baselines each get a process of
 * their own, so that the load generator never shares their event loop. Every child is killed when
 * the benchmark exits, however it exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function killAllChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface BenchProcess {
  url: string;
  /** When the process was spawned, in the same clock as `now()`. */
  spawnedAt: number;
  /** The tail of its stdout and stderr, for error messages. */
  output(): string;
  /** Throws (with the output) when the process has exited. */
  checkAlive(): void;
  /** Waits until `path` answers 2xx. */
  ready(path: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, so that it finishes what it holds; SIGKILL if that takes longer than 15 s. */
  stop(): Promise<number | null>;
}

/** Epoch milliseconds with a fraction: comparable across processes that take time the same way. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Spawns `node <args>` on a free port (PORT), without waiting for it. */
export async function spawnProcess(name: string, args: string[], env: Record<string, string>): Promise<BenchProcess> {
  const port = await freePort();
  let output = '';
  const spawnedAt = now();
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const checkAlive = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
  };
  return {
    url,
    spawnedAt,
    output: () => output,
    checkAlive,
    async ready(path, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        checkAlive();
        if (Date.now() > deadline) throw new Error(`${name} did not become ready in ${timeoutMs / 1000} s:\n${output}`);
        const ok = await fetch(url + path).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await sleep(100);
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      children.delete(child);
      return code;
    },
  };
}

/** Spawns and waits until `readyPath` answers 2xx. */
export async function startProcess(
  name: string,
  args: string[],
  env: Record<string, string>,
  readyPath: string,
): Promise<BenchProcess> {
  const started = await spawnProcess(name, args, env);
  try {
    await started.ready(readyPath);
  } catch (error) {
    await started.stop();
    throw error;
  }
  return started;
}
