import { bigint, boolean, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import type { DeliveryId } from '../ids.ts';
import { bytea } from './columns.ts';
import { deliveries } from './deliveries.ts';

/** One try of a delivery, as the receiver answered it (or why there was no answer). */
export const deliveryAttempts = pgTable(
  'delivery_attempts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .$type<DeliveryId>()
      .notNull()
      .references(() => deliveries.id, { onDelete: 'cascade' }),
    /** 1 for the first attempt of the delivery. */
    number: integer('number').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    statusCode: integer('status_code'),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>(),
    /** At most 64 KiB of the response body. */
    responseBody: bytea('response_body'),
    responseTruncated: boolean('response_truncated').notNull().default(false),
    /** Why there was no usable answer: refused address, timeout, connection error, non-2xx. */
    error: text('error'),
    succeeded: boolean('succeeded').notNull(),
  },
  (t) => [index('delivery_attempts_delivery_idx').on(t.deliveryId, t.number)],
);
