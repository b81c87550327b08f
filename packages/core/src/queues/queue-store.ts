import { type Database, type Executor, queueListeners, queues } from '@switchboard/db';
import { and, asc, eq, inArray, isNotNull, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { QueueId, UserId } from '../shared/ids.ts';
import type { Queue } from './queues-service.ts';

type NewQueue = typeof queues.$inferInsert;

/** A queue's definition as its row stores it. */
export type QueueValues = Omit<
  NewQueue,
  'id' | 'managedBy' | 'lastSeq' | 'droppedThroughSeq' | 'messageCount' | 'totalBytes' | 'createdAt' | 'updatedAt'
>;

/** What ingest needs of a queue's row. */
export interface IngestQueueRow {
  id: QueueId;
  name: string;
  verification: Record<string, unknown>;
  allowedNetworks: string[];
  maxMessageSize: number | null;
  dedup: Record<string, unknown> | null;
  path: string | null;
  rules: Record<string, unknown> | null;
  actions: Array<Record<string, unknown>>;
  respond: 'at-once' | 'after-actions';
  response: Record<string, unknown> | null;
  rejected: 'refuse' | 'store';
  dialect: 'switchboard' | 'webhook-proxy';
}

/** What a queue does with what it receives: its own path, rules, actions and answers. */
const actionColumns = {
  path: queues.path,
  rules: queues.rules,
  actions: queues.actions,
  respond: queues.respond,
  response: queues.response,
  rejected: queues.rejected,
  dialect: queues.dialect,
};

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
  ...actionColumns,
  managedBy: queues.managedBy,
  lastSeq: queues.lastSeq,
  messageCount: queues.messageCount,
  totalBytes: queues.totalBytes,
  createdAt: queues.createdAt,
  updatedAt: queues.updatedAt,
};

const toQueue = (row: Record<string, unknown>) => row as unknown as Queue;

/**
 * The one owner of the `queues` and `queue_listeners` tables. A queue's counters and sequence
 * (`last_seq`, `message_count`, `total_bytes`, `dropped_through_seq`) are also moved by
 * `switchboard_append_messages` as it stores messages (see packages/db/sql/append_messages.sql).
 */
export class QueueStore {
  private readonly db: Database;

  constructor(deps: { db: Database }) {
    this.db = deps.db;
  }

  /** The queues a caller may see: every one for admins, else those they may listen to. */
  visibleTo(actor: Principal): SQL | undefined {
    if (isAdmin(actor)) return undefined;
    return inArray(
      queues.id,
      this.db
        .select({ queueId: queueListeners.queueId })
        .from(queueListeners)
        .where(eq(queueListeners.userId, actor.user.id)),
    );
  }

  async list(actor: Principal): Promise<Queue[]> {
    const rows = await this.db.select(queueColumns).from(queues).where(this.visibleTo(actor)).orderBy(asc(queues.name));
    return rows.map(toQueue);
  }

  async findByName(actor: Principal, name: string): Promise<Queue | null> {
    const [row] = await this.db
      .select(queueColumns)
      .from(queues)
      .where(and(eq(queues.name, name), this.visibleTo(actor)));
    return row ? toQueue(row) : null;
  }

  /** Any queue by name, whoever asks: for checks that tell a missing queue from a forbidden one. */
  async findPosition(name: string): Promise<{ id: QueueId; name: string; lastSeq: number } | null> {
    const [row] = await this.db
      .select({ id: queues.id, name: queues.name, lastSeq: queues.lastSeq })
      .from(queues)
      .where(eq(queues.name, name));
    return row ?? null;
  }

  /** The newest sequence number and the dropped-through mark; null when the queue is gone. */
  async position(id: QueueId): Promise<{ lastSeq: number; droppedThroughSeq: number } | null> {
    const [row] = await this.db
      .select({ lastSeq: queues.lastSeq, droppedThroughSeq: queues.droppedThroughSeq })
      .from(queues)
      .where(eq(queues.id, id));
    return row ?? null;
  }

  async findVerification(id: QueueId): Promise<Record<string, unknown> | null> {
    const [row] = await this.db.select({ verification: queues.verification }).from(queues).where(eq(queues.id, id));
    return row ? row.verification : null;
  }

  /** What an edit that leaves them out keeps: the secret verification, the rules and the actions. */
  async findKept(
    id: QueueId,
  ): Promise<Pick<
    Queue,
    'verification' | 'path' | 'rules' | 'actions' | 'respond' | 'response' | 'rejected' | 'dialect'
  > | null> {
    const [row] = await this.db
      .select({
        verification: queues.verification,
        ...actionColumns,
      })
      .from(queues)
      .where(eq(queues.id, id));
    return row
      ? (row as unknown as Pick<
          Queue,
          'verification' | 'path' | 'rules' | 'actions' | 'respond' | 'response' | 'rejected' | 'dialect'
        >)
      : null;
  }

  /** Every queue, as ingest needs it. */
  async listForIngest(): Promise<IngestQueueRow[]> {
    return this.db
      .select({
        id: queues.id,
        name: queues.name,
        verification: queues.verification,
        allowedNetworks: queues.allowedNetworks,
        maxMessageSize: queues.maxMessageSize,
        dedup: queues.dedup,
        ...actionColumns,
      })
      .from(queues);
  }

  /** Queues that keep messages for a limited age. */
  async listWithRetention(): Promise<Array<{ id: QueueId; name: string; retentionSeconds: number | null }>> {
    return this.db
      .select({ id: queues.id, name: queues.name, retentionSeconds: queues.retentionSeconds })
      .from(queues)
      .where(isNotNull(queues.retentionSeconds));
  }

  async findIdsByNames(names: readonly string[]): Promise<Map<string, QueueId>> {
    if (names.length === 0) return new Map();
    const rows = await this.db
      .select({ id: queues.id, name: queues.name })
      .from(queues)
      .where(inArray(queues.name, [...names]));
    return new Map(rows.map((r) => [r.name, r.id]));
  }

  /** Throws a unique violation when the name is taken. */
  async insert(values: QueueValues, managedBy: 'api' | 'config'): Promise<Queue> {
    const [row] = await this.db
      .insert(queues)
      .values({ ...values, managedBy })
      .returning(queueColumns);
    return toQueue(row as Record<string, unknown>);
  }

  /** Throws a unique violation when the new name is taken; null when the queue is gone. */
  async update(id: QueueId, values: QueueValues, updatedAt: Date): Promise<Queue | null> {
    const [row] = await this.db
      .update(queues)
      .set({ ...values, updatedAt })
      .where(eq(queues.id, id))
      .returning(queueColumns);
    return row ? toQueue(row) : null;
  }

  async setManagedBy(id: QueueId, managedBy: 'api' | 'config'): Promise<void> {
    await this.db.update(queues).set({ managedBy }).where(eq(queues.id, id));
  }

  /** Null when it was already gone. Its listeners go with it (cascade). */
  async delete(id: QueueId, db: Executor = this.db): Promise<Queue | null> {
    const [row] = await db.delete(queues).where(eq(queues.id, id)).returning(queueColumns);
    return row ? toQueue(row) : null;
  }

  /**
   * Locks the queue's row for the removal of some of its messages (taken before the messages
   * are touched, as the writer takes it); null when the queue is gone.
   */
  async lockForRemoval(db: Executor, id: QueueId): Promise<{ droppedThroughSeq: number } | null> {
    const [row] = await db
      .select({ droppedThroughSeq: queues.droppedThroughSeq })
      .from(queues)
      .where(eq(queues.id, id))
      .for('update');
    return row ?? null;
  }

  /** Counts removed messages out of the queue's counters and moves its dropped-through mark. */
  async recordRemoved(
    db: Executor,
    id: QueueId,
    removed: { count: number; bytes: number; droppedThroughSeq: number },
  ): Promise<void> {
    await db
      .update(queues)
      .set({
        messageCount: sql`${queues.messageCount} - ${removed.count}`,
        totalBytes: sql`${queues.totalBytes} - ${removed.bytes}`,
        droppedThroughSeq: removed.droppedThroughSeq,
      })
      .where(eq(queues.id, id));
  }

  async listListenerIds(queueId: QueueId): Promise<UserId[]> {
    const rows = await this.db
      .select({ userId: queueListeners.userId })
      .from(queueListeners)
      .where(eq(queueListeners.queueId, queueId));
    return rows.map((r) => r.userId);
  }

  async isListener(userId: UserId, queueId: QueueId): Promise<boolean> {
    const [row] = await this.db
      .select({ userId: queueListeners.userId })
      .from(queueListeners)
      .where(and(eq(queueListeners.queueId, queueId), eq(queueListeners.userId, userId)));
    return row !== undefined;
  }

  /** Whether the queue exists, read in `db` (a transaction that goes on to change its listeners). */
  async exists(db: Executor, id: QueueId): Promise<boolean> {
    const [row] = await db.select({ id: queues.id }).from(queues).where(eq(queues.id, id));
    return row !== undefined;
  }

  /** The queue's listeners become exactly `userIds`. */
  async replaceListeners(db: Executor, queueId: QueueId, userIds: readonly UserId[]): Promise<void> {
    await db.delete(queueListeners).where(eq(queueListeners.queueId, queueId));
    if (userIds.length > 0) {
      await db.insert(queueListeners).values(userIds.map((userId) => ({ queueId, userId })));
    }
  }

  /** Adds one listener, keeping the others; nothing changes when they already listen. */
  async addListener(queueId: QueueId, userId: UserId): Promise<void> {
    await this.db.insert(queueListeners).values({ queueId, userId }).onConflictDoNothing();
  }
}
