import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Core, createCore, type Principal, scopesForRole, systemPrincipal } from '@switchboard/core';
import { must, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { createDatabaseClient, type DatabaseClient, deliveries, deliveryAttempts } from '@switchboard/db';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { count, eq, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN } from './harness.ts';
import { processDatabaseEnv, type ServerProcess, startServerProcess } from './processes.ts';

const kind = getTestDatabaseKind();
const TOTAL = 2000;

// Two processes share one database only on Postgres; PGlite is one process's alone.
describe.skipIf(kind !== 'postgres')('two workers on one Postgres, one killed mid-way', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-workers-'));
  let env: Record<string, string> = {};
  let dropDatabase: () => Promise<void> = async () => {};
  let client: DatabaseClient;
  let core: Core;
  let receiver: TestReceiver;
  const workers: ServerProcess[] = [];

  beforeAll(async () => {
    const database = await processDatabaseEnv(dir);
    dropDatabase = database.drop;
    env = {
      ...database.env,
      ADMIN_PASSWORD: ADMIN.password,
      ROLE: 'worker',
      DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8',
      DELIVERY_CONCURRENCY: '16',
    };
    // Slow enough answers that a worker always has requests in flight.
    receiver = await startReceiver(() => ({ status: 200, delayMs: 15 }));
    workers.push(await startServerProcess(env), await startServerProcess(env));
    client = await createDatabaseClient({ url: env.DATABASE_URL, maxConnections: 8 });
    core = createCore({ db: client.db, pubsub: client, delivery: { allowedNetworks: ['127.0.0.0/8'] } });
  }, 90_000);
  afterAll(async () => {
    for (const worker of workers) await worker.kill('SIGKILL');
    await core?.stop();
    await client?.close();
    await receiver?.close();
    await dropDatabase();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`completes every one of ${TOTAL} deliveries, none lost, after a SIGKILL of one worker`, async () => {
    const created = must(
      await core.users.create(systemPrincipal, {
        username: 'publisher',
        password: 'publisher-password',
        role: 'member',
      }),
    );
    const publisher: Principal = { user: created, via: 'password', scopes: scopesForRole('member') };
    must(await core.eventTypes.create(systemPrincipal, { name: 'load.tick' }));
    must(
      await core.subscriptions.create(publisher, {
        name: 'receiver',
        url: `${receiver.url}/hook`,
        eventTypes: ['load.tick'],
        timeoutMs: 2000,
        disableAfterFailures: null,
      }),
    );
    for (let i = 0; i < TOTAL; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, TOTAL - i) }, (_, j) =>
          core.publisher.publish(publisher, { type: 'load.tick', payload: { n: i + j } }).then(must),
        ),
      );
    }

    await receiver.waitFor(TOTAL / 4, 60_000);
    const [victim] = workers;
    victim?.child.kill('SIGKILL');
    expect(await victim?.exited).toBeNull(); // killed by the signal, not exited

    const deadline = Date.now() + 75_000;
    let done = 0;
    while (Date.now() < deadline) {
      const [row] = await client.db.select({ n: count() }).from(deliveries).where(eq(deliveries.status, 'succeeded'));
      done = Number(row?.n ?? 0);
      if (done === TOTAL) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(done).toBe(TOTAL);

    const rows = await client.db
      .select({ webhookId: deliveries.webhookId, status: deliveries.status })
      .from(deliveries);
    expect(rows).toHaveLength(TOTAL);
    const received = new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
    const missing = rows.filter((row) => !received.has(row.webhookId));
    expect(missing).toEqual([]);
    const payloads = new Set(receiver.requests.map((r) => JSON.parse(r.body.toString()).data.n as number));
    expect(payloads.size).toBe(TOTAL);
    // The kill did land in the middle of deliveries: their lost attempts were recorded and retried.
    const [lost] = await client.db
      .select({ n: count() })
      .from(deliveryAttempts)
      .where(like(deliveryAttempts.error, 'no outcome: the worker making this attempt stopped%'));
    expect(Number(lost?.n)).toBeGreaterThan(0);
  }, 180_000);
});
