import { isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from '@switchboard/core';
import { GraphQLError } from 'graphql';
import { maskError } from 'graphql-yoga';
import { DATABASE_UNAVAILABLE_MESSAGE } from '../http/unavailable.ts';

/**
 * The error of an operation that met a database that cannot be reached: code SERVICE_UNAVAILABLE,
 * and the whole response answered 503 with Retry-After (Yoga takes both from `extensions.http`),
 * so that clients and proxies retry instead of reading a masked "Unexpected error".
 */
export function serviceUnavailableError(message = DATABASE_UNAVAILABLE_MESSAGE, from?: GraphQLError): GraphQLError {
  return new GraphQLError(message, {
    ...(from ? { nodes: from.nodes, source: from.source, positions: from.positions, path: from.path } : {}),
    extensions: {
      code: 'SERVICE_UNAVAILABLE',
      http: { status: 503, headers: { 'retry-after': String(UNAVAILABLE_RETRY_AFTER_SECONDS) } },
    },
  });
}

/** Yoga's masking, except that a database outage is reported as such rather than masked. */
export function maskErrorsExceptUnavailable(error: unknown, message: string, isDev?: boolean): Error {
  const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
  if (isDatabaseUnavailable(original)) {
    return serviceUnavailableError(DATABASE_UNAVAILABLE_MESSAGE, error instanceof GraphQLError ? error : undefined);
  }
  return maskError(error, message, isDev);
}
