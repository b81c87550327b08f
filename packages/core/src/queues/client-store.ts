import { clients, type Database, type Executor, queues } from '@switchboard/db';
import { and, asc, eq, type SQL, sql } from 'drizzle-orm';
import type { Principal } from '../access/principal.ts';
import type { ClientId, QueueId, UserId } from '../shared/ids.ts';
import type { Client } from './clients-service.ts';

/** Where a client starts reading, and that it is connected. */
export interface ClientStart {
  queueId: QueueId;
  queueName: string;
  cursor: number;
}

/** A client locked for a read, with its queue's newest and dropped-through sequence numbers (null when the queue is gone). */
export interface LockedClient {
  client: Client;
  lastSeq: number | null;
  droppedThroughSeq: number | null;
}

const clientColumns = {
  id: clients.id,
  userId: clients.userId,
  name: clients.name,
  queueId: clients.queueId,
  queueName: clients.queueName,
  cursor: clients.cursor,
  state: clients.state,
  needsRefresh: clients.needsRefresh,
  lastReadAt: clients.lastReadAt,
  createdAt: clients.createdAt,
};

/** The one owner of the `clients` table. */
export class ClientStore {
  private readonly db: Database;

  constructor(deps: { db: Database }) {
    this.db = deps.db;
  }

  /** A client is seen by its owner alone, admins included. */
  visibleTo(actor: Principal): SQL {
    return eq(clients.userId, actor.user.id);
  }

  async list(actor: Principal): Promise<Client[]> {
    return this.db.select(clientColumns).from(clients).where(this.visibleTo(actor)).orderBy(asc(clients.name));
  }

  async findByName(actor: Principal, name: string): Promise<Client | null> {
    const [row] = await this.db
      .select(clientColumns)
      .from(clients)
      .where(and(this.visibleTo(actor), eq(clients.name, name)));
    return row ?? null;
  }

  /** Starts the client at `start`; null when the owner already has a client of that name. */
  async insertIfAbsent(userId: UserId, name: string, start: ClientStart, now: Date): Promise<Client | null> {
    const [row] = await this.db
      .insert(clients)
      .values({ userId, name, ...connected(start, now) })
      .onConflictDoNothing()
      .returning(clientColumns);
    return row ?? null;
  }

  /** Connects a disconnected client again, at `start`; null when there is none of that name disconnected. */
  async reconnect(userId: UserId, name: string, start: ClientStart, now: Date): Promise<Client | null> {
    const [row] = await this.db
      .update(clients)
      .set(connected(start, now))
      .where(and(eq(clients.userId, userId), eq(clients.name, name), eq(clients.state, 'disconnected')))
      .returning(clientColumns);
    return row ?? null;
  }

  async delete(actor: Principal, name: string): Promise<Client | null> {
    const [row] = await this.db
      .delete(clients)
      .where(and(this.visibleTo(actor), eq(clients.name, name)))
      .returning(clientColumns);
    return row ?? null;
  }

  /**
   * The caller's client, locked until `db` (a transaction) ends, so that two concurrent reads of
   * one client take turns instead of both returning the same messages.
   */
  async lockForRead(db: Executor, actor: Principal, name: string): Promise<LockedClient | null> {
    const [row] = await db
      .select({ client: clientColumns, lastSeq: queues.lastSeq, droppedThroughSeq: queues.droppedThroughSeq })
      .from(clients)
      .leftJoin(queues, eq(queues.id, clients.queueId))
      .where(and(this.visibleTo(actor), eq(clients.name, name)))
      .for('update', { of: clients });
    return row ?? null;
  }

  /** Moves the cursor after a read; `refreshed` also clears the need to refresh. */
  async moveCursor(db: Executor, id: ClientId, cursor: number, readAt: Date, refreshed: boolean): Promise<void> {
    await db
      .update(clients)
      .set(refreshed ? { cursor, needsRefresh: false, lastReadAt: readAt } : { cursor, lastReadAt: readAt })
      .where(eq(clients.id, id));
  }

  /** The caller's client as a stream starts from it. */
  async findStreamStart(
    actor: Principal,
    name: string,
  ): Promise<{ queueId: QueueId | null; cursor: number; state: 'connected' | 'disconnected'; userId: UserId } | null> {
    const [row] = await this.db
      .select({ queueId: clients.queueId, cursor: clients.cursor, state: clients.state, userId: clients.userId })
      .from(clients)
      .where(and(this.visibleTo(actor), eq(clients.name, name)));
    return row ?? null;
  }

  /** The queue's connected clients missed a message: their next read tells them to refresh. */
  async markNeedsRefresh(queueId: QueueId): Promise<void> {
    await this.db
      .update(clients)
      .set({ needsRefresh: true })
      .where(and(eq(clients.queueId, queueId), eq(clients.state, 'connected')));
  }

  /** Every client of the queue is disconnected (the queue is going). */
  async disconnectQueue(db: Executor, queueId: QueueId): Promise<void> {
    await db.update(clients).set({ state: 'disconnected', queueId: null }).where(eq(clients.queueId, queueId));
  }

  /** Clients of the queue whose owner is neither in `userIds` nor an admin are disconnected. */
  async disconnectAllBut(db: Executor, queueId: QueueId, userIds: readonly UserId[]): Promise<void> {
    await db.execute(sql`
        update ${clients} set state = 'disconnected', queue_id = null
        where ${clients.queueId} = ${queueId}
          and not (${clients.userId} = any(${sql.param(userIds)}::uuid[]))
          and ${clients.userId} not in (select id from users where role = 'admin')`);
  }
}

function connected(start: ClientStart, now: Date) {
  return {
    queueId: start.queueId,
    queueName: start.queueName,
    cursor: start.cursor,
    state: 'connected' as const,
    needsRefresh: false,
    updatedAt: now,
  };
}
