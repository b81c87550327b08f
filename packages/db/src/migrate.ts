import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import type { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Database, DatabaseClient } from './client.ts';

export const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url));

/** The database's functions, one file each, applied after the migrations (see sql/README.md). */
export const functionsFolder = fileURLToPath(new URL('../sql', import.meta.url));

/** Every function in the files is named so; any other function so named is dropped. */
export const FUNCTION_PREFIX = 'switchboard_';

/**
 * Which release the function files belong to: the number of migrations it ships. A release that
 * changes a function file ships a migration with it (an empty one will do), so that an older
 * release starting against the same database (a rolling deploy, an old CLI) never puts its older
 * functions back: functions applied by a release with more migrations are left as they are.
 */
export function functionsGeneration(folder: string = migrationsFolder): number {
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
  return journal.entries.length;
}

/** Arbitrary but fixed: every process that migrates the same database takes this lock first. */
const MIGRATION_LOCK_KEY = 7_415_002_311;

/**
 * Applies the committed migrations, then the functions in `sql/`. On Postgres, several processes
 * may start at once, so the work happens on one dedicated connection holding an advisory lock.
 */
export async function migrateDatabase(client: DatabaseClient, url?: string): Promise<void> {
  if (client.kind === 'pglite') {
    await migratePglite(client.db as unknown as ReturnType<typeof drizzlePglite>, { migrationsFolder });
    await applyFunctions(client.db);
    return;
  }
  if (!url) throw new Error('migrateDatabase needs the Postgres URL');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const db = drizzlePostgres({ client: sql });
    await migratePostgres(db, { migrationsFolder });
    await applyFunctions(db as unknown as Database);
  } finally {
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.catch(() => {});
    await sql.end({ timeout: 5 });
  }
}

export interface FunctionFile {
  /** The file's name in `sql/`. */
  file: string;
  /** The function it defines. */
  name: string;
  text: string;
  sha256: string;
}

/** The files of `sql/` in a stable order (by name), each with the one function it defines. */
export function readFunctionFiles(folder: string = functionsFolder): FunctionFile[] {
  const files = readdirSync(folder)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(folder, file), 'utf8');
      return { file, name: definedFunction(file, text), text, sha256: createHash('sha256').update(text).digest('hex') };
    });
  const names = new Set<string>();
  for (const { file, name } of files) {
    if (names.has(name)) throw new Error(`sql/${file}: ${name} is defined by another file too`);
    names.add(name);
  }
  return files;
}

function definedFunction(file: string, text: string): string {
  const code = text.replace(/--[^\n]*/g, '');
  const names = [...code.matchAll(/\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(/gi)].map(
    (match) => match[1] as string,
  );
  if (names.length !== 1) throw new Error(`sql/${file} must define exactly one function, not ${names.length}`);
  const name = names[0] as string;
  if (!name.startsWith(FUNCTION_PREFIX)) throw new Error(`sql/${file}: ${name} is not named ${FUNCTION_PREFIX}...`);
  return name;
}

interface FunctionRow extends Record<string, unknown> {
  signature: string;
  name: string;
  note: string;
  definition: string;
}

/**
 * The database's switchboard_ routines in the schema the migrations create their tables in, each
 * with its comment and the MD5 of its full definition (arguments, result, settings and body).
 */
const FUNCTIONS_QUERY = `
  select p.oid::regprocedure::text as signature, p.proname::text as name,
         coalesce(obj_description(p.oid, 'pg_proc'), '') as note,
         case when p.prokind in ('f', 'p') then md5(pg_get_functiondef(p.oid)) else '' end as definition
    from pg_proc p
   where p.pronamespace = (select n.oid from pg_namespace n where n.nspname = current_schema())
     and p.proname like '${FUNCTION_PREFIX.replaceAll('_', '\\_')}%'
   order by p.oid`;

/**
 * What a function applied from `file` carries as its comment: the file's hash and the hash of the
 * definition it produced. A function whose comment still matches both is left alone; one edited in
 * the file, changed by hand or made by an older version is created again from its file.
 */
function functionNote(file: FunctionFile, definitionMd5: string, generation: number): string {
  return `Defined by packages/db/sql/${file.file} (sha256 ${file.sha256}); definition md5 ${definitionMd5}; generation ${generation}`;
}

/** The generation a function was applied by, from its comment; 0 for one this code did not apply. */
function generationOf(note: string): number {
  const match = /; generation (\d+)$/.exec(note);
  return match ? Number(match[1]) : 0;
}

/**
 * Makes the database's switchboard_ functions those of `sql/`, in one transaction: any other
 * (an older overload, a function no file defines any more) is dropped, and each file whose
 * function is not as the file makes it is applied, its function dropped first so that its
 * arguments or result may change. When every function is as its file makes it, nothing is written.
 */
export async function applyFunctions(
  db: Database,
  files: FunctionFile[] = readFunctionFiles(),
  generation: number = functionsGeneration(),
): Promise<void> {
  await db.transaction(async (tx) => {
    const run = async (statement: string): Promise<FunctionRow[]> => {
      const result = (await tx.execute(sql.raw(statement))) as unknown as FunctionRow[] | { rows: FunctionRow[] };
      return Array.isArray(result) ? result : result.rows;
    };
    const present = await run(FUNCTIONS_QUERY);
    // A newer release applied these functions: this older one leaves them (and their set) alone.
    if (present.some((row) => generationOf(row.note) > generation)) return;
    const kept = new Set<string>();
    const stale: FunctionFile[] = [];
    for (const file of files) {
      const current = present.find(
        (row) => row.name === file.name && row.note === functionNote(file, row.definition, generation),
      );
      if (current) kept.add(current.signature);
      else stale.push(file);
    }
    const dropped = present.filter((row) => !kept.has(row.signature));
    if (stale.length === 0 && dropped.length === 0) return;
    for (const row of dropped) await run(`DROP ROUTINE ${row.signature}`);
    for (const file of stale) {
      await run(file.text);
      const created = (await run(FUNCTIONS_QUERY)).filter((row) => row.name === file.name);
      if (created.length !== 1) {
        throw new Error(`sql/${file.file} left ${created.length} functions named ${file.name} in the current schema`);
      }
      const { signature, definition } = created[0] as FunctionRow;
      await run(`COMMENT ON FUNCTION ${signature} IS ${quoteLiteral(functionNote(file, definition, generation))}`);
    }
  });
}

function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
