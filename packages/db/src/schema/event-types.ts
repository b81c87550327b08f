import { jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { EventTypeId } from '../ids.ts';
import { timestamps } from './columns.ts';

/** A kind of event publishers may publish (`invoice.paid`), with an optional JSON Schema for its payload. */
export const eventTypes = pgTable(
  'event_types',
  {
    id: uuid('id').$type<EventTypeId>().primaryKey().defaultRandom(),
    name: text('name').notNull(),
    description: text('description'),
    /** A JSON Schema (draft 2020-12) that payloads must satisfy; null accepts any JSON. */
    schema: jsonb('schema').$type<Record<string, unknown>>(),
    /** Archived types keep their history but refuse new events. */
    archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }),
    ...timestamps,
  },
  (t) => [uniqueIndex('event_types_name_idx').on(t.name)],
);
