import { type AnyColumn, type SQL, sql } from 'drizzle-orm';
import { isUuid } from './crypto.ts';
import { isStorableInstant } from './instant.ts';

/**
 * Keyset cursors of newest-first lists (events, jobs): `<milliseconds>:<uuid>`, the creation
 * time and id of the last row seen. Every list decodes them here, so that a cursor a caller
 * invented is refused as one, never turned into an invalid time or a query Postgres refuses.
 */
export interface KeysetPosition {
  at: Date;
  id: string;
}

export function encodeKeysetCursor(position: KeysetPosition): string {
  return `${position.at.getTime()}:${position.id}`;
}

/** The position, or null when the text is not a cursor this codec could have written. */
export function decodeKeysetCursor(cursor: string): KeysetPosition | null {
  const match = /^(\d{1,16}):([^:]+)$/.exec(cursor);
  if (!match?.[1] || !match[2] || !isUuid(match[2])) return null;
  const at = new Date(Number(match[1]));
  return isStorableInstant(at) ? { at, id: match[2] } : null;
}

/**
 * The conditions of a keyset page over (time, id) columns, newest first: rows older than `after`
 * and newer than `before`. A cursor this codec could not have written is named in the answer
 * (`after` or `before`), for the caller's error.
 */
export function keysetConditions(
  columns: { at: AnyColumn; id: AnyColumn },
  page: { after?: string | undefined; before?: string | undefined },
): { conditions: SQL[] } | { invalid: 'after' | 'before' } {
  const conditions: SQL[] = [];
  for (const [cursor, older] of [
    [page.after, true],
    [page.before, false],
  ] as const) {
    if (cursor === undefined) continue;
    const position = decodeKeysetCursor(cursor);
    if (!position) return { invalid: older ? 'after' : 'before' };
    const at = position.at.toISOString();
    conditions.push(
      older
        ? sql`(${columns.at}, ${columns.id}) < (${at}::timestamptz, ${position.id}::uuid)`
        : sql`(${columns.at}, ${columns.id}) > (${at}::timestamptz, ${position.id}::uuid)`,
    );
  }
  return { conditions };
}
