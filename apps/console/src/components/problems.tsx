'use client';

import { Alert, List } from '@mantine/core';
import { IconAlertTriangle } from '@tabler/icons-react';
import type { CombinedError } from 'urql';
import { graphql } from '../gql';

/**
 * What every failed mutation answers, whatever its result type: the error's message and, for a
 * ValidationError, each field's problem. Spread it into a result union (`...Problem`); read it
 * with problemOf.
 */
export const ProblemFragment = graphql(`
  fragment Problem on Error {
    message
    ... on ValidationError {
      fields {
        path
        message
      }
    }
  }
`);

/** What a mutation's union answers when it fails: an error type with a message, maybe fields. */
export interface Problem {
  message: string;
  fields?: ReadonlyArray<{ path: string; message: string }>;
}

/** The problem in a mutation's result union, or null when it is its success type. */
export function problemOf(result: unknown): Problem | null {
  if (!result || typeof result !== 'object') return null;
  const typed = result as { __typename?: string; message?: string; fields?: Problem['fields'] };
  if (typed.__typename?.endsWith('Error') && typeof typed.message === 'string') {
    return { message: typed.message, ...(typed.fields ? { fields: typed.fields } : {}) };
  }
  return null;
}

/** A transport or GraphQL error, or a problem from a result union, with the API's own words. */
export function ErrorNote({ error, problem }: { error?: CombinedError | null; problem?: Problem | null }) {
  const message = problem?.message ?? describe(error);
  if (!message) return null;
  return (
    <Alert color="red" icon={<IconAlertTriangle size={18} />} title="That did not work" role="alert">
      {message}
      {problem?.fields && problem.fields.length > 0 && (
        <List size="sm" mt="xs">
          {problem.fields.map((f) => (
            <List.Item key={`${f.path}:${f.message}`}>
              <code>{f.path}</code> {f.message}
            </List.Item>
          ))}
        </List>
      )}
    </Alert>
  );
}

function describe(error: CombinedError | null | undefined): string | null {
  if (!error) return null;
  if (error.graphQLErrors.length > 0) return error.graphQLErrors.map((e) => e.message).join('; ');
  if (error.networkError) return `The server could not be reached: ${error.networkError.message}`;
  return error.message;
}

/** The message of one field of a validation problem, for the form input named by `path`. */
export function fieldError(problem: Problem | null, path: string): string | undefined {
  return problem?.fields?.find((f) => f.path === path || f.path.endsWith(`.${path}`))?.message;
}
