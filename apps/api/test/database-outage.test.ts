import { createDatabaseClient, type DatabaseClient, migrateDatabase } from '@switchboard/db';
import { createTestDatabase, getTestDatabaseKind, type TestDatabase } from '@switchboard/db/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSwitchboard, type Switchboard } from '../src/app.ts';
import { loadEnv } from '../src/env.ts';
import { createLogger } from '../src/logger.ts';
import { type FaultProxy, startFaultProxy } from './fault-proxy.ts';
import { ADMIN, basic, gql } from './harness.ts';

const kind = getTestDatabaseKind();
const admin = basic(ADMIN.username, ADMIN.password);
/** Far beyond the few seconds an answer may take: a request still unanswered then hangs. */
const HANG_MS = 20_000;

/**
 * The service reaches its Postgres through a relay that the test makes refuse connections (a
 * stopped database) or relay nothing (a frozen one). Only Postgres can fail this way; the
 * embedded database lives in the process.
 */
describe.skipIf(kind !== 'postgres')('a database outage (postgres)', () => {
  let database: TestDatabase;
  let proxy: FaultProxy;
  let client: DatabaseClient;
  let switchboard: Switchboard;
  let url: string;
  let publisher: string;

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    const target = new URL(database.url as string);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const relayed = new URL(target);
    relayed.port = String(proxy.port);
    client = await createDatabaseClient({ url: relayed.toString(), maxConnections: 5 });
    await migrateDatabase(client, database.url);
    const env = loadEnv({ ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'silent' });
    switchboard = await createSwitchboard({ env, logger: createLogger(env.LOG_LEVEL), database: client });
    await switchboard.app.listen({ port: 0, host: '127.0.0.1' });
    const address = switchboard.app.server.address();
    if (!address || typeof address === 'string') throw new Error('server has no port');
    url = `http://127.0.0.1:${address.port}`;

    const setup = await gql(
      { url },
      `mutation {
        q: createQueue(input: { name: "outage" }) { __typename }
        t: createEventType(input: { name: "outage.tick" }) { __typename }
        k: createToken(input: { name: "outage", scopes: ["admin", "events:publish"] }) {
          __typename ... on CreateTokenSuccess { created { secret } }
        }
      }`,
      { authorization: admin },
    );
    expect(setup.body.errors).toBeUndefined();
    publisher = `Bearer ${setup.body.data?.k.created.secret}`;
    await expectServing();
  });

  afterAll(async () => {
    proxy?.pass();
    await switchboard?.stop();
    await proxy?.close();
    await database?.drop();
  });

  const ingest = () =>
    fetch(`${url}/q/outage`, { method: 'POST', body: '{"a":1}', signal: AbortSignal.timeout(HANG_MS) });
  const publish = () =>
    fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: publisher },
      body: JSON.stringify({ type: 'outage.tick', payload: { a: 1 } }),
      signal: AbortSignal.timeout(HANG_MS),
    });
  const query = () =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: publisher },
      body: JSON.stringify({ query: '{ queue(name: "outage") { messages(first: 1) { edges { node { seq } } } } }' }),
      signal: AbortSignal.timeout(HANG_MS),
    });

  /** Every request answers 503 with Retry-After; GraphQL with the SERVICE_UNAVAILABLE code. */
  async function expectUnavailable() {
    const [ingested, published, queried, ready] = await Promise.all([
      ingest(),
      publish(),
      query(),
      fetch(`${url}/readyz`, { signal: AbortSignal.timeout(HANG_MS) }),
    ]);
    for (const [name, response] of Object.entries({ ingested, published, queried, ready })) {
      expect(response.status, name).toBe(503);
      expect(response.headers.get('retry-after'), name).toMatch(/^\d+$/);
    }
    const body = (await queried.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
  }

  /** Waits (within a generous deadline) until ingest, publish, GraphQL and /readyz all succeed. */
  async function expectServing() {
    const deadline = Date.now() + HANG_MS;
    for (;;) {
      const [ingested, published, queried, ready] = await Promise.all([
        ingest(),
        publish(),
        query(),
        fetch(`${url}/readyz`),
      ]);
      const statuses = [ingested.status, published.status, queried.status, ready.status];
      if (statuses.join() === '200,202,200,200') return;
      if (Date.now() > deadline) throw new Error(`still not serving after the database came back: ${statuses.join()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('finding 7: with the database refusing connections, ingest, publish and GraphQL answer 503 with Retry-After, then serve again', async () => {
    proxy.refuse();
    await expectUnavailable();
    proxy.pass();
    await expectServing();
  });

  it('finding 7: with the database frozen, ingest, publish and GraphQL answer 503 with Retry-After instead of hanging, then serve again', async () => {
    proxy.freeze();
    await expectUnavailable();
    // Requests that start once the outage is known are refused too, without waiting.
    await expectUnavailable();
    proxy.pass();
    await expectServing();
  });
});

describe.skipIf(kind !== 'postgres')('a transaction past its deadline (postgres)', () => {
  let database: TestDatabase;
  let client: DatabaseClient;

  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
    client = await createDatabaseClient({ url: database.url, queryTimeoutMs: 1_000, connectTimeoutMs: 500 });
    await client.db.execute(sql`create table deadline_probe (id int)`);
  });
  afterAll(async () => {
    await client?.close();
    await database?.drop();
  });

  it('finding 7: a transaction whose caller was failed at the deadline rolls back instead of committing later', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const failed = await client.db
      .transaction(async (tx) => {
        await tx.execute(sql`insert into deadline_probe values (1)`);
        await held;
      })
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failed).toBeInstanceOf(Error);
    release();
    // SHARE conflicts with the insert's lock: this waits until that transaction has ended.
    const count = await client.db.transaction(async (tx) => {
      await tx.execute(sql`lock table deadline_probe in share mode`);
      return tx.execute(sql`select count(*)::int as n from deadline_probe`);
    });
    expect((count as unknown as Array<{ n: number }>)[0]?.n).toBe(0);
  });
});
