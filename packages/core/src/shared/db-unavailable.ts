import { isDatabaseUnavailableError } from '@switchboard/db';
import { fail, type Result } from './result.ts';

/** How long a caller is told to wait before trying again while the database does not answer. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/**
 * Whether a failure means "the database could not be reached or did not answer in time"
 * (connection refused, closed or timed out; SQLSTATE class 08, 57P01-57P03, 53300, 57014; the
 * client's own deadline), as opposed to a statement the database refused. Such a failure is
 * answered 503 with Retry-After, never 500: nothing was acknowledged, and trying again works.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return isDatabaseUnavailableError(error);
}

export function databaseUnavailable<T = never>(): Result<T> {
  return fail('UNAVAILABLE', 'The database is unavailable; try again shortly', {
    retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
  });
}

/** Runs a service operation, turning "database unavailable" into a typed UNAVAILABLE result. */
export async function unlessDatabaseUnavailable<T>(operation: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await operation();
  } catch (error) {
    if (isDatabaseUnavailable(error)) return databaseUnavailable();
    throw error;
  }
}
