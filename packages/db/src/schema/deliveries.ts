import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { DeliveryId, EventId, JobId, SubscriptionId } from '../ids.ts';
import { bytea } from './columns.ts';
import { events } from './events.ts';
import { jobs } from './jobs.ts';
import { subscriptions } from './subscriptions.ts';

export type DeliveryStatus = 'pending' | 'delivering' | 'succeeded' | 'failed' | 'cancelled';
/**
 * The name an outbound kind registers under: `event` (an event to a subscription), `job` (a job's
 * own request), `callback` (the report of a job's outcome to its callback URL). The table holds any.
 */
export type DeliveryKind = string;

/**
 * One HTTP request the service owes somebody, and the work queue of the delivery worker:
 * `pending` and `delivering` rows whose `next_attempt_at` has come are claimed with
 * FOR UPDATE SKIP LOCKED. While `delivering`, `next_attempt_at` is the lease's expiry: a worker
 * that dies leaves the row to be claimed again once it passes.
 */
export const deliveries = pgTable(
  'deliveries',
  {
    id: bigint('id', { mode: 'number' }).$type<DeliveryId>().primaryKey().generatedAlwaysAsIdentity(),
    /** Sent as `webhook-id` on every attempt, so that receivers can de-duplicate. */
    webhookId: text('webhook_id').notNull().default(sql`'msg_' || replace(gen_random_uuid()::text, '-', '')`),
    kind: text('kind').$type<DeliveryKind>().notNull().default('event'),
    eventId: uuid('event_id')
      .$type<EventId>()
      .references(() => events.id, { onDelete: 'cascade' }),
    subscriptionId: uuid('subscription_id')
      .$type<SubscriptionId>()
      .references(() => subscriptions.id, { onDelete: 'cascade' }),
    jobId: uuid('job_id')
      .$type<JobId>()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    /** What a callback delivery sends (events' deliveries send their event's body). */
    body: bytea('body'),
    /**
     * Whose share of the workers the delivery takes: an event's delivery its subscription's, a
     * job's request and callback their owner's. A worker holds at most `max_in_flight` (or its own
     * default when null) of one lane's requests at once.
     */
    lane: uuid('lane').notNull(),
    maxInFlight: integer('max_in_flight'),
    /** An attempt's timeout: a claim's lease lasts this plus the worker's margin. */
    timeoutMs: integer('timeout_ms').notNull(),
    status: text('status').$type<DeliveryStatus>().notNull().default('pending'),
    /**
     * Whether a worker may claim the row (when `next_attempt_at` comes): pending, or delivering
     * with a lease that may run out. The due index is partial on this column rather than on
     * `status`, so that the planner cannot pick it for statements that look rows up by id and
     * status: with the statistics of a table that just filled up, it would scan every due row.
     */
    claimable: boolean('claimable').notNull().generatedAlwaysAs(sql`status in ('pending', 'delivering')`),
    /** Attempts started; a claim counts one, so a delivery that kills its worker cannot loop for ever. */
    attempts: integer('attempts').notNull().default(0),
    /** Attempts made before the current series: a retry or a recovery starts the retry policy afresh. */
    attemptOffset: integer('attempt_offset').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }),
    /** When the current claim was taken: the start of the attempt it makes. */
    leasedAt: timestamp('leased_at', { withTimezone: true, mode: 'date' }),
    firstAttemptAt: timestamp('first_attempt_at', { withTimezone: true, mode: 'date' }),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true, mode: 'date' }),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    index('deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.claimable}`),
    index('deliveries_subscription_idx').on(t.subscriptionId, t.createdAt),
    index('deliveries_event_idx').on(t.eventId),
    index('deliveries_job_idx').on(t.jobId),
    // Only failed rows: a status index over every row would be rewritten by every claim and outcome.
    index('deliveries_failed_idx').on(t.subscriptionId, t.createdAt).where(sql`${t.status} = 'failed'`),
  ],
);
