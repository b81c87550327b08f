import { relations } from 'drizzle-orm';
import { bigint, boolean, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { ClientId, QueueId, UserId } from '../ids.ts';
import { timestamps } from './columns.ts';
import { queues } from './queues.ts';
import { users } from './users.ts';

/** A user's named reader of one queue, with the sequence number it has read up to. */
export const clients = pgTable(
  'clients',
  {
    id: uuid('id').$type<ClientId>().primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .$type<UserId>()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** Null once the queue is gone; the client is then `disconnected`. */
    queueId: uuid('queue_id')
      .$type<QueueId>()
      .references(() => queues.id, { onDelete: 'set null' }),
    /** The queue's name when last connected, to say what a disconnected client was reading. */
    queueName: text('queue_name').notNull(),
    cursor: bigint('cursor', { mode: 'number' }).notNull().default(0),
    state: text('state').$type<'connected' | 'disconnected'>().notNull().default('connected'),
    /** Set when the queue refused a message this client would have read; cleared by the next read. */
    needsRefresh: boolean('needs_refresh').notNull().default(false),
    lastReadAt: timestamp('last_read_at', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  (t) => [uniqueIndex('clients_user_name_idx').on(t.userId, t.name), index('clients_queue_idx').on(t.queueId)],
);

export const clientsRelations = relations(clients, ({ one }) => ({
  user: one(users, { fields: [clients.userId], references: [users.id] }),
  queue: one(queues, { fields: [clients.queueId], references: [queues.id] }),
}));
