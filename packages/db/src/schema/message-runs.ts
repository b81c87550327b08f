import { sql } from 'drizzle-orm';
import {
  bigint,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';
import type { QueueId } from '../ids.ts';
import { messages } from './messages.ts';

export type MessageRunStatus = 'pending' | 'running' | 'succeeded' | 'failed';

/**
 * The work queue of a queue's actions: one row per accepted message, written with the message in
 * `switchboard_append_messages` so that no stored message can miss its actions. The action runner
 * claims due rows with FOR UPDATE SKIP LOCKED; while `running`, `due_at` is the lease's expiry, so a
 * runner that dies leaves the row to be claimed again. `position` is the next action to run: a
 * retry starts there, with the context the earlier actions left.
 */
export const messageRuns = pgTable(
  'message_runs',
  {
    queueId: uuid('queue_id').$type<QueueId>().notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    status: text('status').$type<MessageRunStatus>().notNull().default('pending'),
    position: integer('position').notNull().default(0),
    /** Attempts of the action at `position`. */
    attempts: integer('attempts').notNull().default(0),
    dueAt: timestamp('due_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** What the actions share (`context.set`), kept between attempts. */
    context: jsonb('context').$type<Record<string, unknown>>().notNull().default({}),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ columns: [t.queueId, t.seq] }),
    foreignKey({ columns: [t.queueId, t.seq], foreignColumns: [messages.queueId, messages.seq] }).onDelete('cascade'),
    index('message_runs_due_idx').on(t.dueAt).where(sql`${t.status} in ('pending', 'running')`),
  ],
);
