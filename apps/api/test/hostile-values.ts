/**
 * Values that once reached Postgres and came back as server errors: a NUL byte (text and jsonb
 * cannot hold one), instants beyond what timestamptz and a JS Date hold, and strings as long as a
 * request body may carry.
 */
export const NUL_STRING = 'a\u0000b';
export const CONTROL_STRING = 'a\u0001b';
export const EXTREME_DATES = ['+275760-09-13T00:00:00Z', '-271821-04-20T00:00:00Z', '+010000-01-01T00:00:00Z'];
/** Keyset cursors (`<milliseconds>:<uuid>`) whose time no Date or timestamptz holds. */
export const EXTREME_CURSORS = [
  '999999999999999:00000000-0000-4000-8000-000000000000',
  '99999999999999999999:00000000-0000-4000-8000-000000000000',
  '-1:00000000-0000-4000-8000-000000000000',
];
/** Within the 1 MiB body limit, with room for the rest of the request. */
export const LONG_STRING = 'x'.repeat(1_000_000);

export interface HostileCase {
  kind: string;
  value: unknown;
}

/** Runs `task` over `items` with at most `limit` at a time, in order of the items. */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Whether an answer looks like an unexpected server failure rather than a refusal of the input. */
export function isServerFailure(status: number, body: unknown): boolean {
  if (status >= 500) return true;
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
  return /INTERNAL_SERVER_ERROR|Unexpected error|Internal error/.test(text);
}
