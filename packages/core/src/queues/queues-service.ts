import { clients, type Database, queueListeners, queues } from '@switchboard/db';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import { isUuid } from '../shared/crypto.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import { type Dedup, type QueueDefinition, queueDefinitionSchema, toFieldProblems } from './queue-definition.ts';
import { removeMessages } from './retention.ts';
import type { Verification } from './verification/types.ts';

export interface Queue {
  id: string;
  name: string;
  description: string | null;
  verification: Verification;
  allowedNetworks: string[];
  maxMessageCount: number | null;
  maxMessageSize: number | null;
  maxQueueBytes: number | null;
  retentionSeconds: number | null;
  dedup: Dedup | null;
  managedBy: 'api' | 'config';
  lastSeq: number;
  messageCount: number;
  totalBytes: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface QueuesServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  /** This process's registry, reloaded at once; other processes hear of the change by NOTIFY. */
  registry?: { reload(): Promise<void> };
  /** Messages removed per statement when a queue is deleted; small in tests. */
  deleteBatchSize?: number;
}

const queueColumns = {
  id: queues.id,
  name: queues.name,
  description: queues.description,
  verification: queues.verification,
  allowedNetworks: queues.allowedNetworks,
  maxMessageCount: queues.maxMessageCount,
  maxMessageSize: queues.maxMessageSize,
  maxQueueBytes: queues.maxQueueBytes,
  retentionSeconds: queues.retentionSeconds,
  dedup: queues.dedup,
  managedBy: queues.managedBy,
  lastSeq: queues.lastSeq,
  messageCount: queues.messageCount,
  totalBytes: queues.totalBytes,
  createdAt: queues.createdAt,
  updatedAt: queues.updatedAt,
};

const toQueue = (row: Record<string, unknown>) => row as unknown as Queue;

/** A definition checked and shaped as the queues row stores it. */
function parseDefinition(definition: QueueDefinition) {
  const parsed = queueDefinitionSchema.safeParse(definition);
  if (!parsed.success) return fail('INVALID', 'The queue is not valid', { fields: toFieldProblems(parsed.error) });
  // Stored as text and jsonb, which cannot hold a NUL.
  const nul = findNul(parsed.data);
  if (nul) return fail('INVALID', 'The queue is not valid', { fields: [nul] });
  const { verification, dedup, ...rest } = parsed.data;
  return ok({ ...rest, verification: verification as unknown as Record<string, unknown>, dedup: dedup ?? null });
}

function nameTaken(error: unknown, name: string): Result<Queue> {
  if (isUniqueViolation(error)) return fail('CONFLICT', `A queue named "${name}" exists`);
  throw error;
}

export class QueuesService {
  constructor(private readonly deps: QueuesServiceDeps) {}

  /** Admins see every queue; others see the queues they may listen to. */
  async list(actor: Principal): Promise<Result<Queue[]>> {
    const query = this.deps.db.select(queueColumns).from(queues).orderBy(asc(queues.name));
    if (isAdmin(actor)) return ok((await query).map(toQueue));
    const rows = await this.deps.db
      .select(queueColumns)
      .from(queues)
      .innerJoin(queueListeners, eq(queueListeners.queueId, queues.id))
      .where(eq(queueListeners.userId, actor.user.id))
      .orderBy(asc(queues.name));
    return ok(rows.map(toQueue));
  }

  async getByName(actor: Principal, name: string): Promise<Result<Queue>> {
    const [row] = await this.deps.db.select(queueColumns).from(queues).where(eq(queues.name, name));
    if (!row || !(isAdmin(actor) || (await this.mayListen(actor.user.id, row.id)))) {
      return fail('NOT_FOUND', `No queue named "${name}"`);
    }
    return ok(toQueue(row));
  }

  async create(
    actor: Principal,
    definition: QueueDefinition,
    managedBy: 'api' | 'config' = 'api',
  ): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can create queues');
    const parsed = parseDefinition(definition);
    if (!parsed.ok) return parsed;
    try {
      const [row] = await this.deps.db
        .insert(queues)
        .values({ ...parsed.value, managedBy })
        .returning(queueColumns);
      await this.announce(row?.id ?? '');
      this.deps.logger.info({ queue: parsed.value.name, by: actor.user.id }, 'queue created');
      return ok(toQueue(row as Record<string, unknown>));
    } catch (error) {
      return nameTaken(error, parsed.value.name);
    }
  }

  /** Replaces the queue's definition (but for a missing `verification`); its messages, sequence and clients stay. */
  async update(actor: Principal, id: string, definition: QueueDefinition): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change queues');
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such queue');
    const [current] = await this.deps.db
      .select({ verification: queues.verification })
      .from(queues)
      .where(eq(queues.id, id));
    if (!current) return fail('NOT_FOUND', 'No such queue');
    // Secrets are never shown, so an edit that leaves verification out keeps the current one.
    const parsed = parseDefinition({ ...definition, verification: definition.verification ?? current.verification });
    if (!parsed.ok) return parsed;
    try {
      const [row] = await this.deps.db
        .update(queues)
        .set({ ...parsed.value, updatedAt: this.deps.clock.now() })
        .where(eq(queues.id, id))
        .returning(queueColumns);
      if (!row) return fail('NOT_FOUND', 'No such queue');
      await this.announce(id);
      return ok(toQueue(row));
    } catch (error) {
      return nameTaken(error, parsed.value.name);
    }
  }

  /** Removes the queue with its messages; its clients stay, `disconnected`. */
  async delete(actor: Principal, id: string): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can delete queues');
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such queue');
    // The cascade over a large backlog would be one statement past the statement deadline, so the
    // messages go in batches first; the few that arrive meanwhile go with the queue.
    await removeMessages(this.deps.db, id, undefined, this.deps.deleteBatchSize);
    const deleted = await this.deps.db.transaction(async (tx) => {
      await tx.update(clients).set({ state: 'disconnected', queueId: null }).where(eq(clients.queueId, id));
      const [row] = await tx.delete(queues).where(eq(queues.id, id)).returning(queueColumns);
      return row;
    });
    if (!deleted) return fail('NOT_FOUND', 'No such queue');
    await this.announce(id);
    this.deps.logger.info({ queue: deleted.name, by: actor.user.id }, 'queue deleted');
    return ok(toQueue(deleted));
  }

  async listListeners(actor: Principal, queueId: string): Promise<Result<string[]>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can see who may listen');
    if (!isUuid(queueId)) return ok([]);
    const rows = await this.deps.db
      .select({ userId: queueListeners.userId })
      .from(queueListeners)
      .where(eq(queueListeners.queueId, queueId));
    return ok(rows.map((r) => r.userId));
  }

  /**
   * Sets who may listen. Users who lose the right have their clients of this queue disconnected.
   */
  async setListeners(actor: Principal, queueId: string, userIds: readonly string[]): Promise<Result<string[]>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change who may listen');
    if (!isUuid(queueId)) return fail('NOT_FOUND', 'No such queue');
    const bad = userIds.filter((id) => !isUuid(id));
    if (bad.length > 0) return fail('INVALID', `Not user ids: ${bad.join(', ')}`);
    const wanted = [...new Set(userIds)];
    return this.deps.db.transaction(async (tx) => {
      const [queue] = await tx.select({ id: queues.id }).from(queues).where(eq(queues.id, queueId));
      if (!queue) return fail<string[]>('NOT_FOUND', 'No such queue');
      await tx.delete(queueListeners).where(eq(queueListeners.queueId, queueId));
      if (wanted.length > 0) {
        await tx.insert(queueListeners).values(wanted.map((userId) => ({ queueId, userId })));
      }
      // Admins keep their clients; anyone else no longer listed is disconnected.
      await tx.execute(sql`
        update ${clients} set state = 'disconnected', queue_id = null
        where ${clients.queueId} = ${queueId}
          and not (${clients.userId} = any(${sql.param(wanted)}::uuid[]))
          and ${clients.userId} not in (select id from users where role = 'admin')`);
      return ok(wanted);
    });
  }

  async mayListen(userId: string, queueId: string): Promise<boolean> {
    const [row] = await this.deps.db
      .select({ userId: queueListeners.userId })
      .from(queueListeners)
      .where(and(eq(queueListeners.queueId, queueId), eq(queueListeners.userId, userId)));
    return row !== undefined;
  }

  async findIdsByNames(names: readonly string[]): Promise<Map<string, string>> {
    if (names.length === 0) return new Map();
    const rows = await this.deps.db
      .select({ id: queues.id, name: queues.name })
      .from(queues)
      .where(inArray(queues.name, [...names]));
    return new Map(rows.map((r) => [r.name, r.id]));
  }

  private async announce(queueId: string): Promise<void> {
    await this.deps.pubsub.notify(CHANNELS.queues, queueId);
    await this.deps.registry?.reload();
  }
}
