/**
 * Every core operation that can fail for a reason a caller should act on returns a Result.
 * Routes and resolvers map the error code to an HTTP status or a typed GraphQL error.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID'
  | 'RATE_LIMITED'
  | 'TOO_LARGE'
  | 'UNAVAILABLE';

export interface CoreError {
  code: ErrorCode;
  message: string;
  /** Field-level problems for INVALID; seconds to wait for RATE_LIMITED and UNAVAILABLE. */
  fields?: Array<{ path: string; message: string }>;
  retryAfterSeconds?: number;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: CoreError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = <T = never>(
  code: ErrorCode,
  message: string,
  extra: Omit<CoreError, 'code' | 'message'> = {},
): Result<T> => ({ ok: false, error: { code, message, ...extra } });
