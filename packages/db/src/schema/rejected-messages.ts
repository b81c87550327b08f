import { bigint, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { QueueId } from '../ids.ts';
import { bytea } from './columns.ts';
import { queues } from './queues.ts';

/**
 * Requests a queue's rules refused, kept when the queue asks (`rejected: store`) so that admins can
 * see why. Never read by clients; the newest few per queue are kept.
 */
export const rejectedMessages = pgTable(
  'rejected_messages',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    queueId: uuid('queue_id')
      .$type<QueueId>()
      .notNull()
      .references(() => queues.id, { onDelete: 'cascade' }),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    headers: jsonb('headers').$type<Record<string, string>>().notNull(),
    body: bytea('body').notNull(),
    sourceIp: text('source_ip'),
    /** The failing rule's path and the field it checked, and the sentence said to the sender. */
    rule: text('rule').notNull(),
    field: text('field').notNull(),
    reason: text('reason').notNull(),
  },
  (t) => [index('rejected_messages_queue_idx').on(t.queueId, t.id)],
);
