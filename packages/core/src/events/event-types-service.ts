import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import type { EventTypeId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import { EventTypeStore } from './event-type-store.ts';
import { checkSchema, validateAgainst } from './json-schema.ts';

export interface EventType {
  id: EventTypeId;
  name: string;
  description: string | null;
  schema: Record<string, unknown> | null;
  archivedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface EventTypeInput {
  name: string;
  description?: string | null;
  schema?: Record<string, unknown> | null;
}

/** Dot-separated lower-case words: `invoice.paid`, `subscription.disabled`, `measure`. */
const EVENT_TYPE_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;

/** Whether `name` can name an event type: at most 200 characters of EVENT_TYPE_NAME. */
export function isEventTypeName(name: string): boolean {
  return name.length <= 200 && EVENT_TYPE_NAME.test(name);
}

/** How long a looked-up type is believed without a notification; changes here drop it at once. */
const CACHE_MS = 30_000;

export class EventTypesService {
  /** Types looked up by publishes, so that publishing does not query them each time. */
  private cache = new Map<string, { row: EventType | null; at: number }>();
  private unlisten: (() => Promise<void>) | undefined;

  private readonly store: EventTypeStore;

  constructor(private readonly deps: { db: Database; clock: Clock; logger: Logger; pubsub: PubSub }) {
    this.store = new EventTypeStore(deps.db);
  }

  /** Hears other processes' changes to event types. */
  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.eventTypes, () => this.cache.clear());
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /** Every signed-in user may see the types (they subscribe to them); archived ones on request. */
  async list(_actor: Principal, options: { includeArchived?: boolean } = {}): Promise<Result<EventType[]>> {
    return ok(await this.store.list(options.includeArchived ?? false));
  }

  async get(_actor: Principal, name: string): Promise<Result<EventType>> {
    const row = await this.store.findByName(name);
    return row ? ok(row) : fail('NOT_FOUND', `No event type named "${name}"`);
  }

  async create(actor: Principal, input: EventTypeInput): Promise<Result<EventType>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can create event types');
    const problem = this.checkInput(input);
    if (problem) return problem;
    try {
      const row = await this.store.insert({
        name: input.name,
        description: input.description ?? null,
        schema: input.schema ?? null,
      });
      this.deps.logger.info({ eventType: input.name, by: actor.user.id }, 'event type created');
      await this.changed();
      return ok(row);
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `An event type named "${input.name}" exists`);
      throw error;
    }
  }

  /** Changes the description and schema; the name is the type's identity and stays. */
  async update(actor: Principal, name: string, input: Omit<EventTypeInput, 'name'>): Promise<Result<EventType>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change event types');
    const problem = this.checkInput({ name, ...input });
    if (problem) return problem;
    const row = await this.store.update(name, {
      description: input.description ?? null,
      schema: input.schema ?? null,
      updatedAt: this.deps.clock.now(),
    });
    await this.changed();
    return row ? ok(row) : fail('NOT_FOUND', `No event type named "${name}"`);
  }

  /** Archived types refuse new events; `archived: false` brings one back. */
  async setArchived(actor: Principal, name: string, archived: boolean): Promise<Result<EventType>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can archive event types');
    const now = this.deps.clock.now();
    const row = await this.store.update(name, { archivedAt: archived ? now : null, updatedAt: now });
    await this.changed();
    return row ? ok(row) : fail('NOT_FOUND', `No event type named "${name}"`);
  }

  /** Whether a payload may be published as this type: it exists, is not archived, and fits its schema. */
  async checkPayload(name: string, payload: unknown): Promise<Result<EventType>> {
    const row = await this.lookup(name);
    if (!row) return fail('NOT_FOUND', `No event type named "${name}"`);
    if (row.archivedAt) return fail('CONFLICT', `The event type "${name}" is archived and takes no new events`);
    if (row.schema) {
      const problems = validateAgainst(row.schema, payload);
      if (problems.length > 0) {
        return fail('INVALID', `The payload does not match the schema of "${name}"`, {
          fields: problems.map((p) => ({ path: `payload${p.path === '/' ? '' : p.path}`, message: p.message })),
        });
      }
    }
    return ok(row);
  }

  private async lookup(name: string): Promise<EventType | null> {
    const cached = this.cache.get(name);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.row;
    const row = await this.store.findByName(name);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(name, { row, at: Date.now() });
    return row;
  }

  /** Drops this process's cache and tells the others to drop theirs. */
  private async changed(): Promise<void> {
    this.cache.clear();
    await this.deps.pubsub.notify(CHANNELS.eventTypes, '');
  }

  private checkInput(input: EventTypeInput): Result<never> | null {
    const fields: Array<{ path: string; message: string }> = [];
    if (!isEventTypeName(input.name)) {
      fields.push({ path: 'name', message: 'must be dot-separated lower-case words, such as invoice.paid' });
    }
    // Stored as text and jsonb, which cannot hold a NUL.
    const nul = findNul({ description: input.description, schema: input.schema });
    if (nul) fields.push(nul);
    if (input.schema) {
      const problem = checkSchema(input.schema);
      if (problem) fields.push({ path: 'schema', message: `is not a valid JSON Schema: ${problem}` });
    }
    return fields.length > 0 ? fail('INVALID', 'The event type is not valid', { fields }) : null;
  }
}
