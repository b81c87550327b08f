import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseClient, Executor } from '../src/client.ts';
import {
  applyFunctions,
  functionsFolder,
  functionsGeneration,
  migrateDatabase,
  migrationsFolder,
  readFunctionFiles,
} from '../src/migrate.ts';
import { createTestDatabase, getTestDatabaseKind, type TestDatabase } from '../src/testing.ts';

const kind = getTestDatabaseKind();

/** What a file in sql/ says its function is, read here without the migrator's help. */
interface FileFunction {
  file: string;
  text: string;
  name: string;
  /** The text between the dollar quotes: what Postgres keeps as `prosrc`. */
  body: string;
  /** The SET options, as Postgres keeps them in `proconfig` (name=value). */
  settings: string[];
}

function withoutComments(text: string): string {
  return text.replace(/--[^\n]*/g, '');
}

function readFileFunction(file: string): FileFunction {
  const text = readFileSync(join(functionsFolder, file), 'utf8');
  const opening = /\bAS\s+\$\$/i.exec(text);
  const end = text.lastIndexOf('$$');
  if (!opening || end <= opening.index) throw new Error(`sql/${file}: no $$-quoted body`);
  const start = opening.index + opening[0].length;
  const header = withoutComments(text.slice(0, opening.index));
  const names = [...header.matchAll(/\bCREATE\s+OR\s+REPLACE\s+FUNCTION\s+(\w+)\s*\(/gi)].map((m) => m[1] as string);
  if (names.length !== 1)
    throw new Error(`sql/${file}: expected one CREATE OR REPLACE FUNCTION, found ${names.length}`);
  const settings = [...header.matchAll(/\bSET\s+(\w+)\s*(?:=|\bTO\b)\s*('(?:[^']|'')*'|[^\s;]+)/gi)].map(
    (m) => `${m[1]}=${(m[2] as string).replace(/^'(.*)'$/s, '$1').replaceAll("''", "'")}`,
  );
  return { file, text, name: names[0] as string, body: text.slice(start, end), settings };
}

const files = readdirSync(functionsFolder)
  .filter((file) => file.endsWith('.sql'))
  .sort()
  .map(readFileFunction);

/** postgres.js answers `execute` with an array of rows, PGlite with `{ rows }`. */
async function query<T extends Record<string, unknown>>(db: Executor, statement: SQL): Promise<T[]> {
  const result = (await db.execute(statement)) as unknown as T[] | { rows: T[] };
  return Array.isArray(result) ? result : result.rows;
}

interface DatabaseFunction extends Record<string, unknown> {
  oid: string;
  schema: string;
  name: string;
  signature: string;
  prosrc: string;
  proconfig: string[] | null;
  xmin: string;
}

/** Every routine named switchboard_..., in any schema. */
async function databaseFunctions(db: Executor): Promise<DatabaseFunction[]> {
  return query<DatabaseFunction>(
    db,
    sql`select p.oid::text as oid, n.nspname::text as schema, p.proname::text as name,
               p.oid::regprocedure::text as signature, p.prosrc, p.proconfig, p.xmin::text as xmin
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.proname like 'switchboard\_%'
         order by p.proname, p.oid`,
  );
}

/**
 * How the database's functions differ from the files, one line per difference (none: they are the
 * files' exactly). Besides the body and the settings, each function's whole definition (arguments,
 * result, language, ...) is compared with the one the file makes in a scratch schema.
 */
async function drift(client: DatabaseClient): Promise<string[]> {
  const found: string[] = [];
  await client.db.transaction(async (tx) => {
    const present = await databaseFunctions(tx);
    for (const row of present) {
      if (!files.some((f) => f.name === row.name)) found.push(`${row.schema}.${row.signature}: defined by no file`);
    }
    await tx.execute(sql`create schema switchboard_file_check`);
    // The tables the functions name (a result of SETOF deliveries) resolve in the database's schema.
    const home = present[0]?.schema ?? 'public';
    await tx.execute(sql.raw(`set local search_path = switchboard_file_check, "${home.replaceAll('"', '""')}"`));
    for (const file of files) {
      const rows = present.filter((row) => row.name === file.name);
      if (rows.length !== 1) {
        found.push(`${file.name}: ${rows.length} functions in the database`);
        continue;
      }
      const row = rows[0] as DatabaseFunction;
      if (row.prosrc !== file.body) found.push(`${file.name}: body differs from sql/${file.file}`);
      if (JSON.stringify([...(row.proconfig ?? [])].sort()) !== JSON.stringify([...file.settings].sort())) {
        found.push(`${file.name}: settings ${JSON.stringify(row.proconfig)}, not ${JSON.stringify(file.settings)}`);
      }
      await tx.execute(sql.raw(file.text));
      const [definitions] = await query<{ live: string; made: string }>(
        tx,
        sql`select pg_get_functiondef(${row.oid}::oid) as live,
                   (select pg_get_functiondef(p.oid) from pg_proc p
                     where p.proname = ${file.name}
                       and p.pronamespace = 'switchboard_file_check'::regnamespace) as made`,
      );
      const live = definitions?.live.replace(`FUNCTION ${row.schema}.`, 'FUNCTION switchboard_file_check.');
      if (live !== definitions?.made) found.push(`${file.name}: definition differs from sql/${file.file}`);
    }
    await tx.execute(sql`drop schema switchboard_file_check cascade`);
  });
  return found;
}

const currentClaim = files.find((f) => f.name === 'switchboard_claim_deliveries');

describe('the function files', () => {
  it('define one switchboard_ function each, with a body', () => {
    expect(files.map((f) => f.file)).toEqual(
      expect.arrayContaining(['append_messages.sql', 'claim_deliveries.sql', 'complete_deliveries.sql']),
    );
    for (const file of files) {
      expect(file.name, file.file).toMatch(/^switchboard_\w+$/);
      expect(file.body.trim(), file.file).not.toBe('');
    }
    expect(new Set(files.map((f) => f.name)).size).toBe(files.length);
  });

  it('are the only place a function is defined: no migration creates, changes or drops one', () => {
    const migrations = readdirSync(migrationsFolder).filter((file) => file.endsWith('.sql'));
    expect(migrations.length).toBeGreaterThan(0);
    const defining = migrations.filter((file) =>
      /\b(?:CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE|ROUTINE)\b/i.test(
        withoutComments(readFileSync(join(migrationsFolder, file), 'utf8')),
      ),
    );
    expect(defining).toEqual([]);
  });
});

describe(`sql functions on ${kind}`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('a migrated database holds each file’s function exactly: body, settings and whole definition', async () => {
    expect(await drift(database.client)).toEqual([]);
    const present = await databaseFunctions(database.client.db);
    for (const file of files) {
      const row = present.find((r) => r.name === file.name);
      expect(row?.prosrc, file.file).toBe(file.body);
      expect([...(row?.proconfig ?? [])].sort(), file.file).toEqual([...file.settings].sort());
    }
  });

  it('a migrated database holds no switchboard_ function that the files do not define', async () => {
    const present = await databaseFunctions(database.client.db);
    expect(present.map((r) => r.name)).toEqual(files.map((f) => f.name).sort());
  });

  it('migrating again leaves the functions untouched (same oid, not rewritten)', async () => {
    const before = await databaseFunctions(database.client.db);
    await migrateDatabase(database.client, database.url);
    const after = await databaseFunctions(database.client.db);
    expect(after.map((r) => [r.signature, r.oid, r.xmin])).toEqual(before.map((r) => [r.signature, r.oid, r.xmin]));
  });

  it('a function changed by hand is found, and the next migration makes it the file’s again', async () => {
    const append = files.find((f) => f.name === 'switchboard_append_messages');
    if (!append) throw new Error('sql/append_messages.sql is missing');
    // Another body for append_messages, and complete_deliveries without its planner settings.
    await database.client.db.execute(sql.raw(append.text.replace(/\$\$;\s*$/, () => '-- changed by hand\n$$;')));
    await database.client.db.execute(sql`alter function switchboard_complete_deliveries(timestamptz, jsonb) reset all`);
    expect(await drift(database.client)).toEqual([
      'switchboard_append_messages: body differs from sql/append_messages.sql',
      'switchboard_append_messages: definition differs from sql/append_messages.sql',
      expect.stringMatching(/^switchboard_complete_deliveries: settings null, not \[/),
      'switchboard_complete_deliveries: definition differs from sql/complete_deliveries.sql',
    ]);

    await migrateDatabase(database.client, database.url);

    expect(await drift(database.client)).toEqual([]);
  });

  it('migrating a database made by an older version leaves only the current functions', async () => {
    if (!currentClaim) throw new Error('sql/claim_deliveries.sql is missing');
    // The claim's old five-argument overload, and the current signature with an older result: an
    // in-place replace could not change that result, so it has to be dropped and made again.
    await database.client.db.execute(sql`drop function switchboard_claim_deliveries(timestamptz, integer, integer, uuid, uuid,
                                                                                   integer, integer, jsonb)`);
    await database.client.db.execute(sql`
      create function switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer,
                                                   p_event uuid, p_job uuid)
      returns table (id bigint, kind text) language plpgsql as $$ begin end; $$`);
    await database.client.db.execute(sql`
      create function switchboard_claim_deliveries(p_now timestamptz, p_limit integer, p_margin_ms integer,
                                                   p_event uuid, p_job uuid, p_default_cap integer,
                                                   p_ahead integer, p_room jsonb)
      returns table (id bigint) language plpgsql as $$ begin end; $$`);
    // A function that no file defines any more.
    await database.client.db.execute(sql`
      create function switchboard_retired(p integer) returns integer language sql as 'select p'`);
    const before = await databaseFunctions(database.client.db);
    expect(before.map((r) => r.signature)).toEqual(
      expect.arrayContaining([
        'switchboard_claim_deliveries(timestamp with time zone,integer,integer,uuid,uuid)',
        'switchboard_retired(integer)',
      ]),
    );
    expect(await drift(database.client)).not.toEqual([]);

    await migrateDatabase(database.client, database.url);

    const after = await databaseFunctions(database.client.db);
    expect(after.map((r) => r.name)).toEqual(files.map((f) => f.name).sort());
    expect(after.find((r) => r.name === currentClaim.name)?.signature).toBe(
      'switchboard_claim_deliveries(timestamp with time zone,integer,integer,uuid,uuid,integer,integer,jsonb)',
    );
    expect(await drift(database.client)).toEqual([]);
  });

  it("an older release (fewer migrations) leaves a newer release's functions alone; the newer one puts its own back", async () => {
    const generation = functionsGeneration();
    // A newer release's append_messages: another body, applied by a release with one more migration.
    const newer = readFunctionFiles().map((f) =>
      f.name === 'switchboard_append_messages'
        ? { ...f, text: f.text.replace(/\$\$;\s*$/, () => '-- a newer release\n$$;'), sha256: 'newer' }
        : f,
    );
    await applyFunctions(database.client.db, newer, generation + 1);
    const applied = await databaseFunctions(database.client.db);
    expect(applied.find((r) => r.name === 'switchboard_append_messages')?.prosrc).toContain('-- a newer release');

    // This release starts against that database: nothing is rolled back or dropped.
    await migrateDatabase(database.client, database.url);
    const after = await databaseFunctions(database.client.db);
    expect(after.map((r) => [r.signature, r.oid, r.xmin])).toEqual(applied.map((r) => [r.signature, r.oid, r.xmin]));

    // Once the newer release's functions are gone from the files' point of view (the same
    // generation applies), this release makes them its own again.
    await applyFunctions(database.client.db, readFunctionFiles(), generation + 1);
    expect(await drift(database.client)).toEqual([]);
  });
});
