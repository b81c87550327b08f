import { type Core, createCore, type Result } from '@switchboard/core';
import type { DatabaseClient } from '@switchboard/db';
import { openDatabase } from '../app.ts';
import { loadEnv } from '../env.ts';
import { createLogger } from '../logger.ts';

/** A failure the person at the command line can act on: printed as one message, without a stack. */
export class CliError extends Error {}

/**
 * Runs one command against the configured database (DATABASE_URL or the embedded one), then
 * closes it. Core is built as the server builds it, with the database's LISTEN/NOTIFY, so that
 * what a command changes is announced to running servers as their own changes are. Deliveries
 * may reach the networks DELIVERY_ALLOWED_NETWORKS lists, as the server's do.
 */
export async function withCore<T>(
  run: (core: Core, database: DatabaseClient) => Promise<T>,
  options: { sendsItself?: boolean } = {},
): Promise<T> {
  const env = loadEnv();
  const database = await openDatabase(env);
  try {
    const core = createCore({
      db: database.db,
      pubsub: database,
      logger: createLogger('warn'),
      // A command that sends what it makes (trigger, jobs create --wait) does not wake running
      // servers' workers first: the request goes out from here, under this environment's networks.
      delivery: { allowedNetworks: env.DELIVERY_ALLOWED_NETWORKS, announceDueWork: !options.sendsItself },
    });
    try {
      return await run(core, database);
    } finally {
      // Its workers' outcomes and notifications go out, and kept-alive connections would hold the process open.
      await core.stop();
    }
  } finally {
    await database.close();
  }
}

export function expect<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  const details = result.error.fields?.map((f) => `\n  ${f.path}: ${f.message}`).join('') ?? '';
  throw new CliError(`${result.error.message}${details}`);
}

export async function findUser(core: Core, username: string) {
  const user = await core.users.findByUsername(username);
  if (!user) throw new CliError(`No user named "${username}"`);
  return user;
}

/** servo-webhooks names events `after:measure`; the event type is what follows the colon. */
export function toEventTypeName(value: string): string {
  return value.replace(/^(before|after):/, '');
}

/** Rows as columns padded to their widest cell, for a person to read. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
