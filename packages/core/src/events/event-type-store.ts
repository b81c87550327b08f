import { type Database, eventTypes } from '@switchboard/db';
import { asc, eq, isNull } from 'drizzle-orm';
import type { EventType } from './event-types-service.ts';

const columns = {
  id: eventTypes.id,
  name: eventTypes.name,
  description: eventTypes.description,
  schema: eventTypes.schema,
  archivedAt: eventTypes.archivedAt,
  createdAt: eventTypes.createdAt,
  updatedAt: eventTypes.updatedAt,
};

type EventTypeUpdate = Partial<
  Pick<typeof eventTypes.$inferInsert, 'description' | 'schema' | 'archivedAt' | 'updatedAt'>
>;

/** The `event_types` table's one owner. Every signed-in user may read types, so it has no visibility filter. */
export class EventTypeStore {
  constructor(private readonly db: Database) {}

  async list(includeArchived: boolean): Promise<EventType[]> {
    return this.db
      .select(columns)
      .from(eventTypes)
      .where(includeArchived ? undefined : isNull(eventTypes.archivedAt))
      .orderBy(asc(eventTypes.name));
  }

  async findByName(name: string): Promise<EventType | null> {
    const [row] = await this.db.select(columns).from(eventTypes).where(eq(eventTypes.name, name));
    return row ?? null;
  }

  /** Throws a unique violation when the name is taken. */
  async insert(values: { name: string; description: string | null; schema: Record<string, unknown> | null }) {
    const [row] = await this.db.insert(eventTypes).values(values).returning(columns);
    return row as EventType;
  }

  /** Null when there is no type of that name. */
  async update(name: string, set: EventTypeUpdate): Promise<EventType | null> {
    const [row] = await this.db.update(eventTypes).set(set).where(eq(eventTypes.name, name)).returning(columns);
    return row ?? null;
  }
}
