import { boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { JobId, UserId } from '../ids.ts';
import { bytea, timestamps } from './columns.ts';
import { users } from './users.ts';

export type JobState = 'accepted' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';
export type JobNotifyState = 'pending' | 'notified' | 'notify_failed';

/**
 * A client's own HTTP request that Switchboard makes for it, with retries, and whose outcome it
 * then reports to the client's callback URL. The request and the callback are deliveries
 * (`kind` `job` and `callback`, with `job_id`) that the delivery worker sends like any other; the
 * request's attempts are the job's attempts.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').$type<JobId>().primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .$type<UserId>()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    method: text('method').notNull(),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
    /** Sent exactly as given. */
    body: bytea('body'),
    callbackUrl: text('callback_url'),
    timeoutMs: integer('timeout_ms').notNull(),
    /** core's RetryPolicy. */
    retryPolicy: jsonb('retry_policy').$type<Record<string, unknown>>().notNull().default({}),
    /** How the callback is retried (core's RetryPolicy). */
    callbackRetryPolicy: jsonb('callback_retry_policy').$type<Record<string, unknown>>().notNull().default({}),
    /** Statuses that count as success; null: any 2xx. */
    acceptedStatuses: integer('accepted_statuses').array(),
    state: text('state').$type<JobState>().notNull().default('accepted'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    /** The last response: headers, and its body truncated to 64 KiB. */
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    responseBody: bytea('response_body'),
    responseTruncated: boolean('response_truncated').notNull().default(false),
    /** Null while there is nothing to tell (no callback URL, or the job has not ended). */
    notifyState: text('notify_state').$type<JobNotifyState>(),
    notifyStatusCode: integer('notify_status_code'),
    notifyError: text('notify_error'),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  (t) => [index('jobs_user_created_idx').on(t.userId, t.createdAt), index('jobs_state_idx').on(t.state)],
);
