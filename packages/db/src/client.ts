import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
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
}

export async function createDatabaseClient(options: DatabaseOptions): Promise<DatabaseClient> {
  if (options.url) return createPostgresClient(options.url, options.maxConnections ?? 10);
  return createPgliteClient(options.dataDir ?? '.switchboard');
}

function createPostgresClient(url: string, max: number): DatabaseClient {
  const client = postgres(url, { max, onnotice: () => {}, connection: { application_name: 'switchboard' } });
  const db = drizzlePostgres({ client: preparingStatements(client), schema }) as unknown as Database;
  return {
    kind: 'postgres',
    db,
    async ping() {
      await client`select 1`;
    },
    async listen(channel, handler) {
      const { unlisten } = await client.listen(channel, handler);
      return unlisten;
    },
    async notify(channel, payload) {
      await client.notify(channel, payload);
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

type Sql = ReturnType<typeof postgres>;

/**
 * Drizzle sends its queries through postgres.js's `unsafe`, unprepared, which costs a round trip
 * to describe the parameters before every execution. Prepared (named, per connection, as
 * postgres.js does for its own tagged queries) the description happens once per statement and
 * connection, and every later execution is one round trip. Transactions get the same client.
 */
function preparingStatements<T extends Sql>(client: T): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, args?: unknown[], options?: Record<string, unknown>) =>
          target.unsafe(query, args as never, { ...options, prepare: true });
      }
      if (property === 'begin') {
        return (...args: unknown[]) => {
          const callback = args[args.length - 1] as (tx: Sql) => unknown;
          return (target.begin as (...a: unknown[]) => unknown)(...args.slice(0, -1), (tx: Sql) =>
            callback(preparingStatements(tx)),
          );
        };
      }
      if (property === 'savepoint') {
        const savepoint = Reflect.get(target, property, receiver) as ((...a: unknown[]) => unknown) | undefined;
        if (!savepoint) return savepoint;
        return (...args: unknown[]) => {
          const callback = args[args.length - 1] as (tx: Sql) => unknown;
          return savepoint.call(target, ...args.slice(0, -1), (tx: Sql) => callback(preparingStatements(tx)));
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
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
