import { relations, sql } from 'drizzle-orm';
import { bigint, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { QueueId } from '../ids.ts';
import { clients } from './clients.ts';
import { timestamps } from './columns.ts';
import { messages } from './messages.ts';
import { queueListeners } from './queue-listeners.ts';

export const queues = pgTable(
  'queues',
  {
    id: uuid('id').$type<QueueId>().primaryKey().defaultRandom(),
    name: text('name').notNull(),
    description: text('description'),
    /** How providers prove themselves; its shape is core's `Verification`, checked there. */
    verification: jsonb('verification').$type<Record<string, unknown>>().notNull(),
    /** CIDRs allowed to POST; empty means everyone. */
    allowedNetworks: text('allowed_networks').array().notNull().default([]),
    maxMessageCount: integer('max_message_count'),
    maxMessageSize: integer('max_message_size'),
    maxQueueBytes: bigint('max_queue_bytes', { mode: 'number' }),
    retentionSeconds: integer('retention_seconds'),
    /** `{"header": "X-GitHub-Delivery"}` or `{"bodyHash": true}`: how repeats are recognised. */
    dedup: jsonb('dedup').$type<Record<string, unknown>>(),
    /** `config` queues belong to the declarative config file and are replaced when it is re-applied. */
    managedBy: text('managed_by').$type<'api' | 'config'>().notNull().default('api'),
    /** A path of its own (`/github`) that ingests into the queue beside `/q/:name`; webhook-proxy's endpoints. */
    path: text('path'),
    /** What a request must satisfy to be accepted; core's `RulesDefinition`, checked there. */
    rules: jsonb('rules').$type<Record<string, unknown>>(),
    /** What runs for each accepted message, in order; core's action list, checked there. */
    actions: jsonb('actions').$type<Array<Record<string, unknown>>>().notNull().default([]),
    /** `at-once`: answer when stored, actions run in the worker; `after-actions`: run them, then answer. */
    respond: text('respond').$type<'at-once' | 'after-actions'>().notNull().default('at-once'),
    /** The templated answer of an `after-actions` queue (status, headers, body) or a preset. */
    response: jsonb('response').$type<Record<string, unknown>>(),
    /** What happens to a request its rules refuse: `refuse` (nothing stored) or `store` (kept as rejected). */
    rejected: text('rejected').$type<'refuse' | 'store'>().notNull().default('refuse'),
    /** Whose answers the queue gives: Switchboard's JSON, or webhook-proxy's plain text. */
    dialect: text('dialect').$type<'switchboard' | 'webhook-proxy'>().notNull().default('switchboard'),
    /**
     * The sequence number of the newest message; messages get lastSeq+1.. while the row is locked,
     * so sequence numbers of one queue commit in order and a reader never sees a gap fill in later.
     */
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
    /** Every message up to this one has been removed by a limit; a cursor below it missed some. */
    droppedThroughSeq: bigint('dropped_through_seq', { mode: 'number' }).notNull().default(0),
    messageCount: integer('message_count').notNull().default(0),
    totalBytes: bigint('total_bytes', { mode: 'number' }).notNull().default(0),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('queues_name_idx').on(t.name),
    uniqueIndex('queues_path_idx').on(t.path).where(sql`${t.path} is not null`),
  ],
);

export const queuesRelations = relations(queues, ({ many }) => ({
  messages: many(messages),
  clients: many(clients),
  listeners: many(queueListeners),
}));
