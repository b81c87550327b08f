import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseClient } from '../src/client.ts';
import { migrateDatabase, migrationsFolder } from '../src/migrate.ts';
import { createTestDatabase, getTestDatabaseKind, type TestDatabase } from '../src/testing.ts';

const kind = getTestDatabaseKind();

interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}
const journal: JournalEntry[] = JSON.parse(
  readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8'),
).entries;

/** postgres.js answers `execute` with an array of rows, PGlite with `{ rows }`. */
async function query<T extends Record<string, unknown>>(
  client: DatabaseClient,
  statement: ReturnType<typeof sql>,
): Promise<T[]> {
  const result = (await client.db.execute(statement)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

async function publicTables(client: DatabaseClient): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    client,
    sql`select table_name from information_schema.tables where table_schema = 'public' order by table_name`,
  );
  return rows.map((r) => r.table_name);
}

async function journalRows(client: DatabaseClient): Promise<Array<{ id: number; hash: string; createdAt: number }>> {
  const rows = await query<{ id: number; hash: string; created_at: string | number }>(
    client,
    sql`select id, hash, created_at from drizzle.__drizzle_migrations order by id`,
  );
  // created_at is a bigint: a string from postgres.js, a number or string from PGlite.
  return rows.map((r) => ({ id: Number(r.id), hash: r.hash, createdAt: Number(r.created_at) }));
}

async function tableExists(client: DatabaseClient, schema: string, table: string): Promise<boolean> {
  const rows = await query<{ n: number | string }>(
    client,
    sql`select count(*) as n from information_schema.tables where table_schema = ${schema} and table_name = ${table}`,
  );
  return Number(rows[0]?.n) === 1;
}

describe(`migrations on ${kind}`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('start from a database without tables', async () => {
    expect(await publicTables(database.client)).toEqual([]);
    expect(await tableExists(database.client, 'drizzle', '__drizzle_migrations')).toBe(false);
  });

  it('create the tables and record one journal row per migration file', async () => {
    await migrateDatabase(database.client, database.url);

    expect(await publicTables(database.client)).toEqual(expect.arrayContaining(['users', 'api_tokens', 'sessions']));
    const rows = await journalRows(database.client);
    expect(rows).toHaveLength(journal.length);
    // Drizzle keys each applied migration by the file's `when` and the SHA-256 of its SQL.
    expect(rows.map((r) => ({ hash: r.hash, createdAt: r.createdAt }))).toEqual(
      journal.map((entry) => ({
        hash: createHash('sha256')
          .update(readFileSync(join(migrationsFolder, `${entry.tag}.sql`), 'utf8'))
          .digest('hex'),
        createdAt: entry.when,
      })),
    );
  });

  it('change nothing when run a second time, and keep the data', async () => {
    await database.client.db.execute(
      sql`insert into users (username, password_hash, role) values ('kept', 'not-a-real-hash', 'member')`,
    );
    const tablesBefore = await publicTables(database.client);
    const journalBefore = await journalRows(database.client);

    await migrateDatabase(database.client, database.url);

    expect(await publicTables(database.client)).toEqual(tablesBefore);
    expect(await journalRows(database.client)).toEqual(journalBefore);
    const kept = await query<{ username: string }>(database.client, sql`select username from users`);
    expect(kept.map((r) => r.username)).toEqual(['kept']);
  });
});

describe.runIf(kind === 'postgres')('concurrent migrations on postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase({ migrate: false });
  });
  afterAll(async () => {
    await database.drop();
  });

  it('both succeed on a fresh database, applying each migration once', async () => {
    // Several replicas starting at once all migrate; the advisory lock makes the later ones wait.
    const results = await Promise.allSettled([
      migrateDatabase(database.client, database.url),
      migrateDatabase(database.client, database.url),
    ]);
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))).toEqual([
      'fulfilled',
      'fulfilled',
    ]);
    expect(await publicTables(database.client)).toEqual(expect.arrayContaining(['users', 'api_tokens', 'sessions']));
    expect(await journalRows(database.client)).toHaveLength(journal.length);
  });
});
