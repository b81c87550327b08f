import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basic } from './harness.ts';
import { findFreePort, repoRoot } from './processes.ts';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm start` exactly as the README says, on a fresh data folder, with no admin password given. */
function startLikeTheReadme(env: Record<string, string>): Started {
  let output = '';
  const child = spawn('npm', ['start'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', LOG_LEVEL: 'info', ...env },
    detached: true,
  });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  // 'close', not 'exit': npm may exit before the server it started has written its last line.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 45_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function stop(started: Started): Promise<number | null> {
  if (started.child.pid) process.kill(-started.child.pid, 'SIGTERM');
  return started.exited;
}

describe('the README start command on a fresh machine', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-readme-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('serves /graphql, prints the admin password once, and answers { me { username } } with it', async () => {
    const port = await findFreePort();
    const url = `http://127.0.0.1:${port}`;
    const first = startLikeTheReadme({ DATA_DIR: dataDir, PORT: String(port) });
    try {
      await waitFor(() => /Password: \S+/.test(first.output()) && first.output().includes('Server listening'), 'start');
      const password = /Password: (\S+)/.exec(first.output())?.[1] as string;

      const ask = (authorization: string) =>
        fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ query: '{ me { username } }' }),
        });
      const right = await ask(basic('admin', password));
      expect(right.status).toBe(200);
      expect(await right.json()).toEqual({ data: { me: { username: 'admin' } } });

      const wrong = await ask(basic('admin', `${password}x`));
      expect(wrong.status).toBe(401);
      const wrongBody = await wrong.json();
      expect(wrongBody.errors[0].message).toBe('Invalid username or password');

      // The password went to the terminal once, and into no log line.
      const logLines = first
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'));
      expect(logLines.length).toBeGreaterThan(0);
      expect(logLines.some((line) => line.includes(password))).toBe(false);
    } finally {
      await stop(first);
    }
    expect(first.output()).toContain('"msg":"stopped"');

    // A second start on the same data keeps the admin and prints no new password.
    const second = startLikeTheReadme({ DATA_DIR: dataDir, PORT: String(port) });
    try {
      await waitFor(() => second.output().includes('Server listening'), 'restart');
      expect(second.output()).not.toContain('Password:');
    } finally {
      await stop(second);
    }
  }, 120_000);
});
