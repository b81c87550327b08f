import { relations, sql } from 'drizzle-orm';
import { bigint, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { QueueId } from '../ids.ts';
import { bytea } from './columns.ts';
import { queues } from './queues.ts';

export const messages = pgTable(
  'messages',
  {
    queueId: uuid('queue_id')
      .$type<QueueId>()
      .notNull()
      .references(() => queues.id, { onDelete: 'cascade' }),
    /** 1, 2, 3... within the queue, in commit order. */
    seq: bigint('seq', { mode: 'number' }).notNull(),
    body: bytea('body').notNull(),
    contentType: text('content_type'),
    headers: jsonb('headers').$type<Record<string, string>>().notNull(),
    sourceIp: text('source_ip'),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    size: integer('size').notNull(),
    dedupKey: text('dedup_key'),
    /** The request line, for a queue whose actions read it: `{method, path, query}`. */
    request: jsonb('request').$type<{ method: string; path: string; query: Record<string, string> }>(),
  },
  (t) => [
    primaryKey({ columns: [t.queueId, t.seq] }),
    uniqueIndex('messages_dedup_idx').on(t.queueId, t.dedupKey).where(sql`${t.dedupKey} is not null`),
  ],
);

export const messagesRelations = relations(messages, ({ one }) => ({
  queue: one(queues, { fields: [messages.queueId], references: [queues.id] }),
}));
