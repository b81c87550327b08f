import { fileURLToPath } from 'node:url';
import type { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { DatabaseClient } from './client.ts';

export const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url));

/** Arbitrary but fixed: every process that migrates the same database takes this lock first. */
const MIGRATION_LOCK_KEY = 7_415_002_311;

/**
 * Applies the committed migrations. On Postgres, several processes may start at once, so the
 * work happens on one dedicated connection holding an advisory lock.
 */
export async function migrateDatabase(client: DatabaseClient, url?: string): Promise<void> {
  if (client.kind === 'pglite') {
    await migratePglite(client.db as unknown as ReturnType<typeof drizzlePglite>, { migrationsFolder });
    return;
  }
  if (!url) throw new Error('migrateDatabase needs the Postgres URL');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await migratePostgres(drizzlePostgres({ client: sql }), { migrationsFolder });
  } finally {
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
    await sql.end({ timeout: 5 });
  }
}
