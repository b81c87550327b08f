import type { CoreError, Result } from '@switchboard/core';
import { GraphQLError } from 'graphql';
import { serviceUnavailableError } from './unavailable.ts';

/** Failures a mutation reports as a typed member of its result union. */
export class DomainError extends Error {
  constructor(
    message: string,
    readonly code: CoreError['code'],
  ) {
    super(message);
  }
}
export class ForbiddenError extends DomainError {}
export class NotFoundError extends DomainError {}
export class ConflictError extends DomainError {}
export class ValidationError extends DomainError {
  constructor(
    message: string,
    readonly fields: Array<{ path: string; message: string }>,
  ) {
    super(message, 'INVALID');
  }
}
export class InvalidCredentialsError extends DomainError {}
export class RateLimitedError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message, 'RATE_LIMITED');
  }
}

export function toDomainError(error: CoreError): DomainError {
  switch (error.code) {
    case 'FORBIDDEN':
      return new ForbiddenError(error.message, error.code);
    case 'NOT_FOUND':
      return new NotFoundError(error.message, error.code);
    case 'CONFLICT':
      return new ConflictError(error.message, error.code);
    case 'INVALID':
      return new ValidationError(error.message, error.fields ?? []);
    case 'UNAUTHENTICATED':
      return new InvalidCredentialsError(error.message, error.code);
    case 'RATE_LIMITED':
    case 'UNAVAILABLE':
      return new RateLimitedError(error.message, error.retryAfterSeconds ?? 1);
    case 'TOO_LARGE':
      return new ValidationError(error.message, []);
  }
}

/** For mutations: a failure becomes the matching typed error of the result union. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  // Not a member of any result union: the whole response is a 503 the client retries.
  if (result.error.code === 'UNAVAILABLE') throw serviceUnavailableError(result.error.message);
  throw toDomainError(result.error);
}

/** For queries: a failure becomes a GraphQL error carrying the code in its extensions. */
export function unwrapQuery<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  if (result.error.code === 'UNAVAILABLE') throw serviceUnavailableError(result.error.message);
  throw new GraphQLError(result.error.message, { extensions: { code: result.error.code } });
}
