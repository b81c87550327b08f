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
import type { DeliveryId, QueueId } from '../ids.ts';
import { deliveries } from './deliveries.ts';
import { messages } from './messages.ts';

/** `queued`: an outbound delivery carries the action on (http, forward); its status is the delivery's. */
export type ActionRunStatus = 'running' | 'succeeded' | 'failed' | 'queued';

/** One action of one message's list, as it last ran: what it did, printed or failed with. */
export const actionRuns = pgTable(
  'action_runs',
  {
    queueId: uuid('queue_id').$type<QueueId>().notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    /** The action's place in the queue's list, from 0. */
    position: integer('position').notNull(),
    action: text('action').notNull(),
    status: text('status').$type<ActionRunStatus>().notNull(),
    /** At most 64 KiB of what the action printed. */
    output: text('output'),
    error: text('error'),
    durationMs: integer('duration_ms'),
    attempts: integer('attempts').notNull().default(1),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .$type<DeliveryId>()
      .references(() => deliveries.id, { onDelete: 'set null' }),
    /**
     * The request an http or forward action owes: url, method, headers, retry policy, signing
     * secret. Its body is the delivery's (null: the message's own bytes).
     */
    request: jsonb('request').$type<Record<string, unknown>>(),
  },
  (t) => [
    primaryKey({ columns: [t.queueId, t.seq, t.position] }),
    foreignKey({ columns: [t.queueId, t.seq], foreignColumns: [messages.queueId, messages.seq] }).onDelete('cascade'),
    index('action_runs_delivery_idx').on(t.deliveryId),
  ],
);
