import { randomUUID } from 'node:crypto';
import type { DeliveryId, Id, UserId } from '@switchboard/db';
import { isUuid } from './crypto.ts';

export type {
  ClientId,
  DeliveryId,
  EventId,
  EventTypeId,
  Id,
  JobId,
  QueueId,
  SubscriptionId,
  UserId,
} from '@switchboard/db';

/*
 * The one place where an id from outside (an argument, a URL, a JSON payload) becomes a branded
 * id. Ids read from the tables through drizzle come branded already; ids read by raw SQL are
 * branded where their rows are mapped.
 */

/**
 * The id of the kind the caller names, or null when the text is not a UUID (upper case is
 * accepted, as Postgres accepts it). Nothing is looked up: the row may still be missing.
 */
export function parseId<T extends Id<string>>(raw: string): T | null {
  return isUuid(raw) ? (raw as T) : null;
}

/** The UUIDs among these, branded, in the order given; the rest are left out. */
export function parseIdList<T extends Id<string>>(raws: readonly string[]): T[] {
  return raws.filter(isUuid) as T[];
}

/** A delivery id: a positive safe integer, given as a number or as decimal digits; null otherwise. */
export function parseDeliveryId(raw: string | number): DeliveryId | null {
  const value = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(value) && value > 0 ? (value as DeliveryId) : null;
}

/** The delivery ids among these (see parseDeliveryId), in the order given; the rest are left out. */
export function parseDeliveryIdList(raws: ReadonlyArray<string | number>): DeliveryId[] {
  return raws.flatMap((raw) => parseDeliveryId(raw) ?? []);
}

/** A new id for a row that core writes with an id of its own choosing (an event). */
export function newId<T extends Id<string>>(): T {
  return randomUUID() as T;
}

/** The command-line operator's user id: no row has it (see systemPrincipal). */
export const SYSTEM_USER_ID = '00000000-0000-0000-0000-000000000000' as UserId;

/**
 * Stands for the delivery of an attempt made before its row was written (a blocking
 * subscription's first attempt); no row has it.
 */
export const UNWRITTEN_DELIVERY_ID = 0 as DeliveryId;
