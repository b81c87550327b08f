import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Core } from '@switchboard/core';
import { createTestDatabase, getTestDatabaseKind, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_TIMEOUT_MS, expectCleanFailure, runCliAt, withCliCore } from './cli-runner.ts';

const kind = getTestDatabaseKind();
const TOKEN_PATTERN = /^sb_[0-9A-Za-z]{16}_[0-9A-Za-z]{40}$/;
let database: TestDatabase | undefined;
let dataDir: string | undefined;

const target = () => ({ databaseUrl: database?.url, dataDir });
const runCli = (args: string[], options: { stdin?: string } = {}) => runCliAt(target(), args, options);
const withCore = <T>(run: (core: Core) => Promise<T>) => withCliCore(target(), run);

function generatedPassword(stdout: string): string {
  const match = /^password: (\S+)$/m.exec(stdout);
  if (!match?.[1]) throw new Error(`no generated password in: ${stdout}`);
  return match[1];
}

describe(`switchboard CLI on ${kind}`, () => {
  const bobPassword = 'bob-from-stdin-Ω-1234';
  let alicePassword = '';
  let token = '';
  let newBobPassword = '';

  beforeAll(async () => {
    if (kind === 'postgres') {
      database = await createTestDatabase({ migrate: false });
      // The CLI opens its own connections; this process needs none until the checks through core.
      await database.client.close();
    } else {
      dataDir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
    }
  });

  afterAll(async () => {
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'migrate applies the migrations to an empty database, and again is harmless',
    async () => {
      for (let i = 0; i < 2; i++) {
        const run = await runCli(['migrate']);
        expect(run.stderr).toBe('');
        expect(run.code).toBe(0);
        expect(run.stdout).toContain('migrations applied');
      }
    },
    2 * CLI_TIMEOUT_MS,
  );

  it('users create reads the password from stdin with --password-stdin', async () => {
    const run = await runCli(['users', 'create', 'bob', '--role', 'member', '--password-stdin'], {
      stdin: `${bobPassword}\n`,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/created member "bob" \([0-9a-f-]{36}\)/);
    expect(run.stdout).not.toContain('password:');
  });

  it('users create without --password-stdin prints a generated password', async () => {
    const run = await runCli(['users', 'create', 'alice', '--role', 'admin']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('created admin "alice"');
    alicePassword = generatedPassword(run.stdout);
    expect(alicePassword.length).toBeGreaterThanOrEqual(16);
  });

  it('refuses a username that is taken, without printing a password nobody will get', async () => {
    const run = await runCli(['users', 'create', 'bob']);
    expectCleanFailure(run);
    expect(run.stderr).toContain('"bob"');
    expect(run.stderr).toContain('taken');
    expect(run.stdout).not.toContain('password:');
  });

  it('refuses an unknown role', async () => {
    const run = await runCli(['users', 'create', 'x', '--role', 'king']);
    expectCleanFailure(run);
    expect(run.stderr).toContain('king');
    expect(run.stderr).toContain('admin or member');
  });

  it('tokens create prints a token with the requested scopes', async () => {
    const run = await runCli([
      'tokens',
      'create',
      '--user',
      'bob',
      '--name',
      'ci',
      '--scopes',
      'events:publish,jobs:write',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    token = run.stdout.trim();
    expect(token).toMatch(TOKEN_PATTERN);
  });

  it('tokens create refuses an unknown scope, naming it', async () => {
    const run = await runCli(['tokens', 'create', '--user', 'bob', '--name', 'bad', '--scopes', 'events:publish,nope']);
    expectCleanFailure(run);
    expect(run.stderr).toContain('"nope" is not a scope');
    expect(run.stdout).not.toMatch(/sb_/);
  });

  it('tokens create refuses an unknown user, naming them', async () => {
    const run = await runCli(['tokens', 'create', '--user', 'ghost', '--name', 'ci', '--scopes', 'events:publish']);
    expectCleanFailure(run);
    expect(run.stderr).toContain('No user named "ghost"');
    expect(run.stdout).not.toMatch(/sb_/);
  });

  it('left exactly the intended effects, as core sees them', async () => {
    await withCore(async (core) => {
      const bob = await core.auth.verifyCredentials('bob', bobPassword);
      expect(bob.ok && bob.value.user.role).toBe('member');
      const alice = await core.auth.verifyCredentials('alice', alicePassword);
      expect(alice.ok && alice.value.user.role).toBe('admin');
      expect(await core.users.findByUsername('x')).toBeFalsy();

      const principal = await core.auth.authenticateToken(token);
      expect(principal?.via).toBe('token');
      expect(principal?.user.username).toBe('bob');
      expect([...(principal?.scopes ?? [])].sort()).toEqual(['events:publish', 'jobs:write']);
    });
  });

  it(
    'users passwd prints a new generated password that replaces the old one',
    async () => {
      const run = await runCli(['users', 'passwd', 'bob']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('password of "bob" changed');
      newBobPassword = generatedPassword(run.stdout);
      expect(newBobPassword).not.toBe(bobPassword);

      await withCore(async (core) => {
        expect((await core.auth.verifyCredentials('bob', newBobPassword)).ok).toBe(true);
        const old = await core.auth.verifyCredentials('bob', bobPassword);
        expect(old.ok ? 'accepted' : old.error.code).toBe('UNAUTHENTICATED');
        // The token is not a password credential: changing the password leaves it working.
        expect(await core.auth.authenticateToken(token)).not.toBeNull();
      });
    },
    2 * CLI_TIMEOUT_MS,
  );

  it.runIf(kind === 'pglite')('refuses to open the embedded database while another process holds it', async () => {
    const lockFile = join(dataDir as string, 'switchboard.lock');
    let holder: ChildProcess | undefined;
    try {
      holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30_000)'], { stdio: 'ignore' });
      const pid = holder.pid;
      if (!pid) throw new Error('could not start the process that holds the folder');
      writeFileSync(lockFile, String(pid));

      const run = await runCli(['users', 'create', 'carol']);
      expectCleanFailure(run);
      expect(run.stderr).toContain(`embedded database in ${dataDir} is in use by process ${pid}`);
      expect(run.stdout).not.toContain('password:');
    } finally {
      holder?.kill();
      rmSync(lockFile, { force: true });
    }
    // Once the holder is gone, the folder is usable again and carol was never created.
    await withCore(async (core) => {
      expect(await core.users.findByUsername('carol')).toBeFalsy();
    });
  });

  it('reports an unreachable database in one line, without a stack trace', async () => {
    const saved = database;
    const savedDir = dataDir;
    database = { url: 'postgres://postgres@127.0.0.1:1/nowhere' } as TestDatabase;
    try {
      const run = await runCli(['migrate']);
      expectCleanFailure(run);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    } finally {
      database = saved;
      dataDir = savedDir;
    }
  });

  it.runIf(kind === 'pglite')('takes over a lock file left by a process that died', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.on('close', resolve));
    writeFileSync(join(dataDir as string, 'switchboard.lock'), String(dead.pid));
    const run = await runCli(['migrate']);
    expect(run.code).toBe(0);
  });
});
