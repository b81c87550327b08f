import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { SubscriptionId, UserId } from '../ids.ts';
import { timestamps } from './columns.ts';
import { users } from './users.ts';

/** A user's endpoint: where events of the matching types are delivered, signed, and how. */
export const subscriptions = pgTable(
  'subscriptions',
  {
    id: uuid('id').$type<SubscriptionId>().primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .$type<UserId>()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    url: text('url').notNull(),
    /** Event-type patterns: `invoice.paid`, `invoice.*`, `*`. */
    eventTypes: text('event_types').array().notNull(),
    /** A payload filter (core's PayloadFilter); null delivers every matching event. */
    filter: jsonb('filter').$type<Record<string, unknown>>(),
    headers: jsonb('headers').$type<Record<string, string>>().notNull().default({}),
    /** `{"scheme": "standard-webhooks"}` or `{"scheme": "hmac", "header", "algorithm", "encoding", "prefix"}`. */
    signing: jsonb('signing').$type<Record<string, unknown>>().notNull(),
    /** The signing secret (`whsec_...` for Standard Webhooks); needed in clear to sign. */
    secret: text('secret').notNull(),
    /** After a rotation, the old secret also signs until it expires. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamp('previous_secret_expires_at', { withTimezone: true, mode: 'date' }),
    timeoutMs: integer('timeout_ms').notNull().default(15_000),
    /** core's RetryPolicy: scheduleMs, maxAttempts, maxTotalMs. */
    retryPolicy: jsonb('retry_policy').$type<Record<string, unknown>>().notNull().default({}),
    rateLimitPerSecond: integer('rate_limit_per_second'),
    /** Requests a worker keeps open to this endpoint at once; null: the worker's default. */
    maxInFlight: integer('max_in_flight'),
    mode: text('mode').$type<'async' | 'blocking'>().notNull().default('async'),
    /** The shape of the body sent: the event's envelope, or the Webhook test tool's. */
    bodyFormat: text('body_format').$type<'standard' | 'webhook-test'>().notNull().default('standard'),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    disabledAt: timestamp('disabled_at', { withTimezone: true, mode: 'date' }),
    /** Deliveries that failed for good since the last success. */
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    /** The first failed attempt since the last success; null while the endpoint is healthy. */
    failingSince: timestamp('failing_since', { withTimezone: true, mode: 'date' }),
    /** Disable after this many consecutive failed deliveries; null: never for that reason. */
    disableAfterFailures: integer('disable_after_failures'),
    /** Disable once failing for this long with no success; null: never for that reason. */
    disableAfterMs: bigint('disable_after_ms', { mode: 'number' }),
    /**
     * Failed attempts (not deliveries) since it was made or last enabled: the Webhook test tool's
     * `failure_count`. A success does not reset it, as the tool's tally was not reset.
     */
    failedAttempts: integer('failed_attempts').notNull().default(0),
    /** Disable once failedAttempts is more than this; null: never for that reason. */
    maxFailedAttempts: integer('max_failed_attempts'),
    lastSuccessAt: timestamp('last_success_at', { withTimezone: true, mode: 'date' }),
    managedBy: text('managed_by').$type<'api' | 'config'>().notNull().default('api'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('subscriptions_user_name_idx').on(t.userId, t.name),
    index('subscriptions_enabled_idx').on(t.enabled),
  ],
);
