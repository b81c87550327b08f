import { decodeKeysetCursor, isUuid } from '@switchboard/core';
import { GraphQLError } from 'graphql';

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

/**
 * Subscription, event and job ids are UUIDs. A malformed one is the caller's mistake, reported as
 * such, and must never reach a query where Postgres would refuse it with a server error.
 */
export function parseUuid(id: string | number, what: string): string {
  const value = String(id);
  if (!isUuid(value)) throw badInput(`${what} is not a valid id`);
  return value;
}

export function parseOptionalUuid(id: string | number | null | undefined, what: string): string | undefined {
  return id === null || id === undefined ? undefined : parseUuid(id, what);
}

/** Delivery ids are positive integers, and so are the cursors of delivery pages. */
export function parseDeliveryId(id: string | number, what = 'The delivery id'): number {
  const value = String(id);
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed <= 0) {
    throw badInput(`${what} is not a delivery id`);
  }
  return parsed;
}

export function parseDeliveryCursor(cursor: string | undefined): number | undefined {
  return cursor === undefined ? undefined : parseDeliveryId(cursor, 'A delivery cursor');
}

/** Event and job cursors are core's keyset cursors, `<milliseconds>:<id>`, decoded by core's one codec. */
function parseTimeCursor(cursor: string | undefined, shape: string): string | undefined {
  if (cursor === undefined) return undefined;
  if (!decodeKeysetCursor(cursor)) throw badInput(`${shape}, as returned in an edge`);
  return cursor;
}

export function parseEventCursor(cursor: string | undefined): string | undefined {
  return parseTimeCursor(cursor, 'An event cursor is `<milliseconds>:<event id>`');
}

export function parseJobCursor(cursor: string | undefined): string | undefined {
  return parseTimeCursor(cursor, 'A job cursor is `<milliseconds>:<job id>`');
}
