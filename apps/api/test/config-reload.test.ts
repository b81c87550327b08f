import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN } from './harness.ts';
import { processDatabaseEnv, type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();

/** Waits until the process has logged `line` `times` times in all; the deadline is generous for loaded machines. */
async function waitForLog(server: ServerProcess, line: string, times = 1, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.output().split(line).length - 1 < times) {
    if (server.child.exitCode !== null)
      throw new Error(`the server exited while awaiting "${line}":\n${server.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${line}" in the log after ${timeoutMs} ms:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`SIGHUP re-applies SWITCHBOARD_CONFIG (${kind})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-hup-'));
  const configPath = join(dir, 'config.yaml');
  let dropDatabase: () => Promise<void> = async () => {};
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.kill();
    await dropDatabase();
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds and removes queues on SIGHUP, keeps the messages of queues that stay, and refuses a bad file at start', async () => {
    // YAML works as well as the Webhook Queue's JSON.
    writeFileSync(configPath, 'queues:\n  - name: kept\n  - name: dropped\n');
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    // At info, the process logs each SIGHUP's outcome, which the test awaits.
    const env = { ADMIN_PASSWORD: ADMIN.password, SWITCHBOARD_CONFIG: configPath, LOG_LEVEL: 'info', ...database.env };
    server = await startServerProcess(env);
    const post = (queue: string) => fetch(`${server?.url}/q/${queue}`, { method: 'POST', body: 'x' });
    expect((await post('kept')).status).toBe(200);
    expect((await post('dropped')).status).toBe(200);
    expect((await post('added')).status).toBe(404);

    writeFileSync(configPath, 'queues:\n  - name: kept\n  - name: added\n');
    server.child.kill('SIGHUP');
    await waitForLog(server, 'configuration reloaded on SIGHUP');
    expect((await post('added')).status).toBe(200);
    expect((await post('dropped')).status).toBe(404);
    const kept = await post('kept');
    // The queue that stayed kept its messages: this is its second.
    expect(await kept.json()).toEqual({ id: 2 });

    // A file that cannot be applied leaves the running configuration as it was.
    writeFileSync(configPath, 'queues: [{ name: "bad name!" }]');
    server.child.kill('SIGHUP');
    await waitForLog(server, 'configuration reload failed');
    expect((await post('added')).status).toBe(200);
    expect((await post('dropped')).status).toBe(404);
    expect(await (await post('kept')).json()).toEqual({ id: 3 });
    expect(server.output().split('configuration reloaded on SIGHUP').length - 1).toBe(1);

    // And at start, a bad file stops the server with a message naming the problem.
    await server.kill();
    const failed = await startServerProcess(env).then(
      () => 'started',
      (error: Error) => error.message,
    );
    expect(failed).toContain('SWITCHBOARD_CONFIG');
    expect(failed).toContain('queues.0.name');
  }, 120_000);
});
