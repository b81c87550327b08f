/**
 * The instants Switchboard takes from outside: years 1 to 9999. Postgres' timestamptz reaches
 * further, but it neither reads the six-digit years a JS Date writes beyond 9999 nor holds the
 * earliest a Date can; bounded here, every accepted instant round-trips through both.
 */
export const EARLIEST_INSTANT = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_INSTANT = new Date('9999-12-31T23:59:59.999Z');
export const INSTANT_RANGE_PROBLEM = 'must be between the years 1 and 9999';

export function isStorableInstant(date: Date): boolean {
  const ms = date.getTime();
  return !Number.isNaN(ms) && ms >= EARLIEST_INSTANT.getTime() && ms <= LATEST_INSTANT.getTime();
}

export type InstantParse = { ok: true; date: Date } | { ok: false; message: string };

/** An ISO 8601 time (or anything `Date` reads), refused when unreadable or out of range. */
export function parseInstant(text: string): InstantParse {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return { ok: false, message: 'must be an ISO 8601 time' };
  if (!isStorableInstant(date)) return { ok: false, message: INSTANT_RANGE_PROBLEM };
  return { ok: true, date };
}

/** A problem for each given instant outside the range, by its name, for INVALID results. */
export function instantProblems(
  instants: Record<string, Date | null | undefined>,
): Array<{ path: string; message: string }> {
  return Object.entries(instants)
    .filter(([, date]) => date != null && !isStorableInstant(date))
    .map(([path]) => ({ path, message: INSTANT_RANGE_PROBLEM }));
}
