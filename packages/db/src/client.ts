import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { DatabaseAvailability, DatabaseUnavailableError } from './availability.ts';
import { preparingStatements, queryControl } from './postgres-guard.ts';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type Transaction = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a query can run on: the database itself or an open transaction. */
export type Executor = Database | Transaction;

export type NotificationHandler = (payload: string) => void;

export interface DatabaseClient {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Database;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  /** False while the database is known not to answer (always true for the embedded one). */
  readonly available: boolean;
  /** Subscribes to a LISTEN/NOTIFY channel; resolves to the function that unsubscribes. */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** A postgres:// URL; when absent the embedded database is used. */
  url?: string | undefined;
  /** Folder of the embedded database, or `memory://` for a throw-away one. */
  dataDir?: string | undefined;
  /** Pool size for Postgres. */
  maxConnections?: number | undefined;
  /** Postgres: the longest a connection may take to open; also the liveness probe's limit. */
  connectTimeoutMs?: number | undefined;
  /** Postgres: the longest one statement or one transaction may take, client and server side. */
  queryTimeoutMs?: number | undefined;
  /** Postgres: told when the database stops or starts answering, with a reason to log. */
  onAvailabilityChange?: ((available: boolean, reason: string) => void) | undefined;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
/** Between liveness probes while the database does not answer: how soon its return is seen. */
const PROBE_INTERVAL_MS = 250;

export async function createDatabaseClient(options: DatabaseOptions): Promise<DatabaseClient> {
  if (options.url) return createPostgresClient(options.url, options);
  return createPgliteClient(options.dataDir ?? '.switchboard');
}

function createPostgresClient(url: string, options: DatabaseOptions): DatabaseClient {
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const client = postgres(url, {
    max: options.maxConnections ?? 10,
    onnotice: () => {},
    connect_timeout: connectTimeoutMs / 1000,
    // postgres.js waits up to 20 s (3^n / 100 s) before reopening a connection that failed, which
    // holds queries and delays recovery long after the database is back; the availability probe
    // already keeps calls away from a database that does not answer.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    // The server gives up on what the client has stopped waiting for.
    connection: { application_name: 'switchboard', statement_timeout: queryTimeoutMs },
  });
  const availability = new DatabaseAvailability({
    queryTimeoutMs,
    // Probe once a statement is unanswered for half the connect timeout: a server that stopped
    // answering is then found within one and a half times it.
    stallMs: connectTimeoutMs / 2,
    // A cancel request needs a fresh connection, as the probe does: it answers within as long.
    graceMs: connectTimeoutMs,
    probeIntervalMs: PROBE_INTERVAL_MS,
    probe: () => probe(url, connectTimeoutMs),
    onChange: options.onAvailabilityChange,
  });
  const db = drizzlePostgres({
    client: preparingStatements(client, (call, control) => availability.guard(call, control)),
    schema,
  }) as unknown as Database;
  return {
    kind: 'postgres',
    db,
    get available() {
      return availability.available;
    },
    async ping() {
      const query = client`select 1`;
      await availability.guard(() => query, queryControl(query));
    },
    async listen(channel, handler) {
      // postgres.js LISTENs again by itself on a new connection after the old one is lost.
      const { unlisten } = await client.listen(channel, handler);
      return unlisten;
    },
    async notify(channel, payload) {
      await availability.guard(() => client.notify(channel, payload));
    },
    async close() {
      availability.close();
      await client.end({ timeout: 5 });
    },
  };
}

/** A fresh connection and `select 1`, within the connect timeout: does the server answer at all? */
async function probe(url: string, timeoutMs: number): Promise<void> {
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: timeoutMs / 1000,
    fetch_types: false,
    connection: { application_name: 'switchboard-probe' },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new DatabaseUnavailableError(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    void sql.end({ timeout: 0 }).catch(() => {});
  }
}

async function createPgliteClient(dataDir: string): Promise<DatabaseClient> {
  const inMemory = dataDir.startsWith('memory://');
  const lockFile = inMemory ? null : claimDataDir(dataDir);
  let pg: PGlite;
  try {
    pg = await PGlite.create(dataDir);
  } catch (error) {
    if (lockFile) rmSync(lockFile, { force: true });
    throw error;
  }
  const db = drizzlePglite({ client: pg, schema }) as unknown as Database;
  return {
    kind: 'pglite',
    db,
    available: true,
    async ping() {
      await pg.query('select 1');
    },
    async listen(channel, handler) {
      return pg.listen(channel, handler);
    },
    async notify(channel, payload) {
      await db.execute(sql`select pg_notify(${channel}, ${payload})`);
    },
    async close() {
      if (!pg.closed) await pg.close();
      if (lockFile) rmSync(lockFile, { force: true });
    },
  };
}

/**
 * The embedded database is a single-process store: two processes opening one folder would
 * corrupt it. A lock file with the owner's pid refuses the second one with a clear message.
 */
function claimDataDir(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, 'switchboard.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      // Exclusive create: of two processes starting at once, exactly one gets the folder.
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return lockFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
    if (owner && owner !== process.pid && isAlive(owner)) {
      throw new Error(
        `The embedded database in ${dataDir} is in use by process ${owner}. Stop that process first, ` +
          'or run Switchboard on Postgres (DATABASE_URL) to share one database between processes.',
      );
    }
    // Left behind by a process that died without closing: take it over.
    rmSync(lockFile, { force: true });
  }
  throw new Error(`Could not claim ${lockFile}; another process is starting on the same folder`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
