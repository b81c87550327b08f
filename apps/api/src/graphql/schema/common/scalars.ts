import { parseInstant } from '@switchboard/core';
import { GraphQLError, type ValueNode, valueFromASTUntyped } from 'graphql';
import { builder } from '../../builder.ts';

/**
 * Bounded to what Postgres and a JS Date both hold (core's parseInstant), so that an extreme
 * date is the caller's mistake, reported as BAD_USER_INPUT, never a failed statement. An inline
 * literal's error carries its node, so that the input guard can name the argument.
 */
function parseDateTime(value: unknown, node?: ValueNode): Date {
  const parsed = typeof value === 'string' ? parseInstant(value) : null;
  if (parsed?.ok) return parsed.date;
  throw new GraphQLError(`DateTime ${parsed?.message ?? 'must be an ISO 8601 string'}`, {
    nodes: node,
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO 8601 string in UTC.',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (node, variables) => parseDateTime(valueFromASTUntyped(node, variables), node),
});

builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
});
