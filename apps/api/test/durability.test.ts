import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic } from './harness.ts';
import { processDatabaseEnv, type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();
const admin = basic(ADMIN.username, ADMIN.password);

describe(`an acknowledged message survives SIGKILL (${kind})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-kill-'));
  const configPath = join(dir, 'config.json');
  let dropDatabase: () => Promise<void> = async () => {};
  let env: Record<string, string>;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    writeFileSync(configPath, JSON.stringify({ queues: [{ name: 'durable' }] }));
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    env = { ADMIN_PASSWORD: ADMIN.password, SWITCHBOARD_CONFIG: configPath, ...database.env };
  });
  afterAll(async () => {
    await server?.kill('SIGKILL');
    await dropDatabase();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds every acknowledged message stored, byte for byte, after a SIGKILL in the middle of a burst', async () => {
    server = await startServerProcess(env);
    const acked = new Map<number, string>();
    let sent = 0;
    const killAfter = 400;
    let killed = false;

    // 64 senders keep requests in flight; the process is killed while they are.
    const sender = async (worker: number) => {
      for (let i = 0; !killed; i++) {
        const body = `{"worker":${worker},"i":${i},"pad":"${'x'.repeat(200)}"}`;
        sent += 1;
        try {
          const response = await fetch(`${server?.url}/q/durable`, { method: 'POST', body });
          if (response.status !== 200) continue;
          const { id } = (await response.json()) as { id: number };
          acked.set(id, body);
          if (acked.size >= killAfter && !killed) {
            killed = true;
            server?.child.kill('SIGKILL');
          }
        } catch {
          // Refused or cut off by the kill: never acknowledged, so owed nothing.
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, (_, w) => sender(w)));
    await server.exited;
    expect(acked.size).toBeGreaterThanOrEqual(killAfter);
    expect(sent).toBeGreaterThan(acked.size);

    server = await startServerProcess(env);
    const stored = new Map<number, string>();
    let after: string | null = null;
    for (;;) {
      const response: Response = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: admin },
        body: JSON.stringify({
          query: `query($after: String) { queue(name: "durable") { messages(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor } edges { node { seq body } } } } }`,
          variables: { after },
        }),
      });
      const page: {
        pageInfo: { hasNextPage: boolean; endCursor: string };
        edges: Array<{ node: { seq: number; body: string } }>;
      } = (await response.json()).data.queue.messages;
      for (const { node } of page.edges) stored.set(node.seq, node.body);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    const missing = [...acked.entries()].filter(([id, body]) => stored.get(id) !== body).map(([id]) => id);
    expect(missing).toEqual([]);
  }, 120_000);
});
