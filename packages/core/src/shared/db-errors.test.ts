import { DrizzleQueryError } from 'drizzle-orm/errors';
import { describe, expect, it } from 'vitest';
import { describeError, describeErrorForPeople, MAX_LOGGED_MESSAGE } from './db-errors.ts';

/** A driver error as postgres.js builds one: the statement and its values ride along. */
function driverError(message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), {
    name: 'PostgresError',
    code: '23505',
    constraint_name: 'subscriptions_user_name_unique',
    detail: 'Key (name)=(whsec_detail) already exists.',
    query: 'insert into subscriptions (secret) values ($1)',
    parameters: ['whsec_parameter'],
    ...extra,
  });
}

describe('describeError', () => {
  it('finding 6: keeps code, constraint and message of a wrapped driver error, never the statement or its values', () => {
    const cause = driverError('duplicate key value violates unique constraint');
    const wrapped = new DrizzleQueryError('insert into subscriptions (secret) values ($1)', ['whsec_parameter'], cause);
    const described = describeError(wrapped);
    expect(described).toMatchObject({
      type: 'DrizzleQueryError',
      code: '23505',
      constraint: 'subscriptions_user_name_unique',
      message: 'duplicate key value violates unique constraint',
    });
    expect(JSON.stringify(described)).not.toMatch(/whsec_|insert into|Failed query/);
  });

  it('caps a long message, and takes only the frames of the stack', () => {
    const error = driverError('x'.repeat(10_000));
    const described = describeError(error);
    expect(described.message.length).toBeLessThanOrEqual(MAX_LOGGED_MESSAGE + 1);
    expect(described.stack ?? '').not.toContain('xxxx');
    expect(described.stack).toMatch(/^ {4}at /);
  });

  it('describes errors that are not database errors by their own message, and non-errors by their type', () => {
    expect(describeError(new TypeError('boom'))).toMatchObject({ type: 'TypeError', message: 'boom' });
    expect(describeError({ query: 'select', parameters: ['whsec_x'] })).toEqual({
      type: 'object',
      message: 'a non-Error value',
    });
  });

  it('answers people with the database message only when a statement is behind the error', () => {
    const wrapped = new DrizzleQueryError('insert', ['whsec_parameter'], driverError('refused'));
    expect(describeErrorForPeople(wrapped)).toBe('refused');
    expect(describeErrorForPeople(new Error('SWITCHBOARD_CONFIG x.json: queues.0.name: required'))).toBe(
      'SWITCHBOARD_CONFIG x.json: queues.0.name: required',
    );
  });
});
