import { relations } from 'drizzle-orm';
import { index, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core';
import type { QueueId, UserId } from '../ids.ts';
import { queues } from './queues.ts';
import { users } from './users.ts';

/** The users allowed to listen to a queue (admins always may). */
export const queueListeners = pgTable(
  'queue_listeners',
  {
    queueId: uuid('queue_id')
      .$type<QueueId>()
      .notNull()
      .references(() => queues.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .$type<UserId>()
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.queueId, t.userId] }), index('queue_listeners_user_idx').on(t.userId)],
);

export const queueListenersRelations = relations(queueListeners, ({ one }) => ({
  queue: one(queues, { fields: [queueListeners.queueId], references: [queues.id] }),
  user: one(users, { fields: [queueListeners.userId], references: [users.id] }),
}));
