import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EnvError, loadEnv } from '../src/env.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The EnvError that loadEnv throws for these settings; fails the test when it throws nothing. */
function envErrorFor(source: Record<string, string>): EnvError {
  try {
    loadEnv(source);
  } catch (error) {
    expect(error).toBeInstanceOf(EnvError);
    return error as EnvError;
  }
  throw new Error(`loadEnv accepted ${JSON.stringify(source)}`);
}

describe('loadEnv', () => {
  it('fills in the documented defaults when nothing is set', () => {
    const env = loadEnv({});
    expect(env).toMatchObject({
      PORT: 4000,
      HOST: '127.0.0.1',
      DATA_DIR: join(process.cwd(), '.switchboard'),
      ADMIN_USERNAME: 'admin',
      ROLE: 'all',
      LOG_LEVEL: 'info',
      DELIVERY_ALLOWED_NETWORKS: [],
    });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.ADMIN_PASSWORD).toBeUndefined();
  });

  it('resolves a relative DATA_DIR against the directory npm was started from', () => {
    expect(loadEnv({ INIT_CWD: '/srv/hub' }).DATA_DIR).toBe('/srv/hub/.switchboard');
    expect(loadEnv({ INIT_CWD: '/srv/hub', DATA_DIR: 'data' }).DATA_DIR).toBe('/srv/hub/data');
    expect(loadEnv({ INIT_CWD: '/srv/hub', DATA_DIR: '/var/lib/sb' }).DATA_DIR).toBe('/var/lib/sb');
  });

  it('reads good values and converts them', () => {
    const env = loadEnv({
      PORT: '8080',
      DATABASE_URL: 'postgresql://u@db:5432/sb',
      ROLE: 'worker',
      LOG_LEVEL: 'debug',
      ADMIN_PASSWORD: 'long-enough',
      DELIVERY_ALLOWED_NETWORKS: '10.0.0.0/8, fd00::/8',
    });
    expect(env).toMatchObject({
      PORT: 8080,
      DATABASE_URL: 'postgresql://u@db:5432/sb',
      ROLE: 'worker',
      LOG_LEVEL: 'debug',
      ADMIN_PASSWORD: 'long-enough',
      DELIVERY_ALLOWED_NETWORKS: ['10.0.0.0/8', 'fd00::/8'],
    });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '1.5'],
    ['ROLE', 'both'],
    ['LOG_LEVEL', 'loud'],
    ['SHUTDOWN_TIMEOUT_MS', '-1'],
  ])('refuses %s=%s, naming the setting and the value given', (name, value) => {
    const error = envErrorFor({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(new RegExp(`^${name}: `));
    expect(error.message).toContain(`"${value}"`);
  });

  it.each([
    ['ADMIN_PASSWORD', 'short'],
    ['DATABASE_URL', 'mysql://user:secret@db/x'],
  ])('refuses %s by name without repeating its value, which may be a secret', (name, value) => {
    const error = envErrorFor({ [name]: value });
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(new RegExp(`^${name}: `));
    expect(error.message).not.toContain(value);
  });

  it('explains why a number is out of range rather than calling it not a number', () => {
    expect(envErrorFor({ PORT: '70000' }).message).toContain('between 0 and 65535');
    expect(envErrorFor({ SHUTDOWN_TIMEOUT_MS: '-1' }).message).not.toContain('must be a number');
  });

  it.each(['nope', '10.0.0.0', '10.0.0.0/33', '300.1.1.1/8', 'fd00::/129'])(
    'refuses the network %s in DELIVERY_ALLOWED_NETWORKS by the setting name and the entry',
    (bad) => {
      const error = envErrorFor({ DELIVERY_ALLOWED_NETWORKS: `192.168.0.0/16,${bad}` });
      expect(error.problems).toHaveLength(1);
      // The setting as the operator knows it, not an internal path such as DELIVERY_ALLOWED_NETWORKS.1
      expect(error.problems[0]).toMatch(/^DELIVERY_ALLOWED_NETWORKS: /);
      expect(error.message).toContain(`"${bad}"`);
    },
  );

  it('reports every bad setting at once', () => {
    const error = envErrorFor({ PORT: 'abc', ROLE: 'both', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
    expect(error.problems).toHaveLength(4);
    for (const [name, value] of [
      ['PORT', 'abc'],
      ['ROLE', 'both'],
      ['LOG_LEVEL', 'loud'],
    ]) {
      expect(error.problems.some((p) => p.startsWith(`${name}: `) && p.includes(`"${value}"`))).toBe(true);
    }
    expect(error.message).toMatch(/^Invalid settings:\n/);
  });

  it('takes an empty DATABASE_URL as not set (the embedded database)', () => {
    expect(loadEnv({ DATABASE_URL: '' }).DATABASE_URL).toBeUndefined();
  });

  it('takes an empty PORT as not set rather than as port 0', () => {
    expect(loadEnv({ PORT: '' }).PORT).toBe(4000);
    expect(loadEnv({ PORT: '0' }).PORT).toBe(0);
  });
});

describe('switchboard serve with bad settings', () => {
  it('exits 1 with a message naming the setting, and no stack trace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-env-'));
    try {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['apps/api/bin/switchboard.mjs', 'serve'], {
          cwd: repoRoot,
          // Only what the process needs, so that a PORT or DATABASE_URL in the caller's env cannot leak in.
          env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'abc', DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 20_000,
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(code).toBe(1);
      expect(stderr).toContain('PORT');
      expect(stderr).toContain('abc');
      expect(stderr).not.toContain('    at ');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
