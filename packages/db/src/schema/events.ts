import { sql } from 'drizzle-orm';
import { index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { EventId, SubscriptionId, UserId } from '../ids.ts';
import { bytea } from './columns.ts';
import { subscriptions } from './subscriptions.ts';
import { users } from './users.ts';

/** One published occurrence of an event type; its deliveries are written in the same transaction. */
export const events = pgTable(
  'events',
  {
    id: uuid('id').$type<EventId>().primaryKey().defaultRandom(),
    type: text('type').notNull(),
    /** The JSON every delivery sends, exactly: `{"type", "timestamp", "data"}`. Signatures are over these bytes. */
    body: bytea('body').notNull(),
    /** Null for events Switchboard publishes itself (`subscription.disabled`). */
    publisherId: uuid('publisher_id')
      .$type<UserId>()
      .references(() => users.id, { onDelete: 'set null' }),
    /** The publisher's Idempotency-Key, or `content:<hash>` when de-duplication by content was asked for. */
    idempotencyKey: text('idempotency_key'),
    /** SHA-256 of the type and the canonical JSON of the payload. */
    contentHash: text('content_hash').notNull(),
    status: text('status').$type<'published' | 'cancelled'>().notNull().default('published'),
    cancelReason: text('cancel_reason'),
    /** Set when only this user's (and admins') subscriptions may receive the event. */
    audienceUserId: uuid('audience_user_id')
      .$type<UserId>()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Set when the event was sent to one subscription only (a trigger, a test). */
    targetSubscriptionId: uuid('target_subscription_id')
      .$type<SubscriptionId>()
      .references(() => subscriptions.id, { onDelete: 'set null' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('events_idempotency_idx')
      .on(t.publisherId, t.idempotencyKey)
      .where(sql`${t.idempotencyKey} is not null`),
    index('events_created_idx').on(t.createdAt),
    index('events_type_created_idx').on(t.type, t.createdAt),
  ],
);
