import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createDatabaseClient, type DatabaseClient } from './client.ts';
import { migrateDatabase } from './migrate.ts';

export type TestDatabaseKind = 'postgres' | 'pglite';

export interface TestDatabase {
  kind: TestDatabaseKind;
  client: DatabaseClient;
  /** Set for Postgres: the URL of this test's own database. */
  url?: string;
  drop(): Promise<void>;
}

/** The server that test databases are created on; its `test` database is only used to create them. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function getTestDatabaseKind(): TestDatabaseKind {
  const kind = process.env.TEST_DB ?? 'pglite';
  if (kind !== 'postgres' && kind !== 'pglite') throw new Error(`TEST_DB must be postgres or pglite, not "${kind}"`);
  return kind;
}

/** A new, empty database that no other test run can see; `migrate: false` leaves it without tables. */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const kind = getTestDatabaseKind();
  if (kind === 'pglite') {
    const client = await createDatabaseClient({ dataDir: 'memory://' });
    if (options.migrate !== false) await migrateDatabase(client);
    return { kind, client, drop: () => client.close() };
  }
  const name = `sb_test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(TEST_POSTGRES_URL, name);
  const client = await createDatabaseClient({ url, maxConnections: 5 });
  if (options.migrate !== false) await migrateDatabase(client, url);
  return {
    kind,
    client,
    url,
    async drop() {
      await client.close();
      const dropper = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}
