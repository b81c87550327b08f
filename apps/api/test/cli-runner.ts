import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Core, type CoreDeps, createCore } from '@switchboard/core';
import { createDatabaseClient, migrateDatabase } from '@switchboard/db';
import { createTestDatabase, getTestDatabaseKind } from '@switchboard/db/testing';
import { expect } from 'vitest';
import { repoRoot } from './processes.ts';

/** Each embedded-database run opens PGlite from disk, which takes a few seconds. */
export const CLI_TIMEOUT_MS = 60_000;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The database CLI runs work on: a Postgres test database's URL, or an embedded-database folder. */
export interface CliTarget {
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
}

/**
 * A database of its own for a suite of CLI runs: a fresh, unmigrated Postgres database (this
 * process keeps no connection to it) or an embedded-database folder. `remove` deletes it.
 */
export async function createCliTarget(prefix: string): Promise<CliTarget & { remove(): Promise<void> }> {
  if (getTestDatabaseKind() === 'postgres') {
    const database = await createTestDatabase({ migrate: false });
    await database.client.close();
    return { databaseUrl: database.url, remove: () => database.drop() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  return { dataDir, remove: async () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** `switchboard <args>` as its own process, on the target database. */
export function runCliAt(
  target: CliTarget,
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  // Built from scratch so that a DATABASE_URL or DATA_DIR in the caller's environment cannot leak in.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent' };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  if (target.databaseUrl) env.DATABASE_URL = target.databaseUrl;
  else if (target.dataDir) env.DATA_DIR = target.dataDir;
  Object.assign(env, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['apps/api/bin/switchboard.mjs', ...args], {
      cwd: repoRoot,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: CLI_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // Always end stdin: a command reading it would otherwise wait for ever.
    child.stdin.end(options.stdin ?? '');
  });
}

/** The CLI's database opened in this process; for PGlite only between CLI runs, as it allows one process. */
export async function withCliCore<T>(
  target: CliTarget,
  run: (core: Core) => Promise<T>,
  delivery?: CoreDeps['delivery'],
): Promise<T> {
  const client = await createDatabaseClient(
    target.databaseUrl ? { url: target.databaseUrl } : { dataDir: target.dataDir },
  );
  try {
    await migrateDatabase(client, target.databaseUrl);
    return await run(createCore({ db: client.db, ...(delivery ? { delivery } : {}) }));
  } finally {
    await client.close();
  }
}

/** Exit status 1 and one line a person can act on (ours, or commander's for bad options), never a stack. */
export function expectCleanFailure(run: CliRun): void {
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/^(switchboard|error): /);
  expect(run.stderr).not.toContain('    at ');
}
