import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN } from './harness.ts';
import { processDatabaseEnv, type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();

describe(`SWITCHBOARD_CONFIG is read strictly (${kind})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-strict-'));
  const configPath = join(dir, 'config.json');
  let dropDatabase: () => Promise<void> = async () => {};
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await server?.kill();
    await dropDatabase();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The start's error message, or "started" (and the server stopped again). */
  async function startOutcome(env: Record<string, string>): Promise<string> {
    try {
      const started = await startServerProcess(env);
      await started.kill();
      return 'started';
    } catch (error) {
      return (error as Error).message;
    }
  }

  it('finding 11: a misspelt key stops the start, naming its path and the key meant; the corrected file starts', async () => {
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    const env = { ADMIN_PASSWORD: ADMIN.password, SWITCHBOARD_CONFIG: configPath, ...database.env };
    // The typo would have left the queue open to every address.
    writeFileSync(configPath, JSON.stringify({ queues: [{ name: 'office', whitelist_ips: ['192.0.2.1'] }] }));
    const failed = await startOutcome(env);
    expect(failed).toContain('SWITCHBOARD_CONFIG');
    expect(failed).toContain('queues.0.whitelist_ips: is not a known key; did you mean "whitelist_ip"?');

    // webhook-proxy's server.yml is read as strictly: a misspelt endpoint key is refused by its path.
    writeFileSync(configPath, 'server:\n  port: 5000\nendpoints:\n  - /hook:\n      methd: POST\n');
    const proxy = await startOutcome(env);
    expect(proxy).toContain('SWITCHBOARD_CONFIG');
    expect(proxy).toMatch(/endpoints\[0\]\.\/hook\.methd/);

    writeFileSync(configPath, JSON.stringify({ queues: [{ name: 'office', whitelist_ip: ['192.0.2.1'] }] }));
    server = await startServerProcess(env);
    // Only the listed address may post; this test's own address is not it.
    expect((await fetch(`${server.url}/q/office`, { method: 'POST', body: 'x' })).status).toBe(403);
  }, 120_000);
});
