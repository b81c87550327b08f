import { type Database, type Executor, messages } from '@switchboard/db';
import { and, asc, desc, eq, gt, gte, inArray, lt, lte, type SQL, sql } from 'drizzle-orm';
import { rowsOf } from '../shared/db-rows.ts';
import type { QueueId } from '../shared/ids.ts';
import type { StoredMessage } from './clients-service.ts';
import type { IncomingMessage } from './message-writer.ts';

/** One message of an appended batch, by its index in the batch. */
export interface AppendedMessage {
  index: number;
  seq: number;
  /** A message with the same de-duplication key was already stored; `seq` is that one's. */
  duplicate: boolean;
}

export interface SizeQuery {
  /** Messages after this sequence number. */
  after?: number | undefined;
  /** Messages before this sequence number. */
  before?: number | undefined;
  limit: number;
  newestFirst?: boolean | undefined;
}

const YIELD_ABOVE_CHARS = 1024 * 1024;

const messageColumns = {
  queueId: messages.queueId,
  seq: messages.seq,
  body: messages.body,
  contentType: messages.contentType,
  headers: messages.headers,
  sourceIp: messages.sourceIp,
  receivedAt: messages.receivedAt,
};

/**
 * The one owner of the `messages` table. Messages are written by `switchboard_append_messages`
 * (see packages/db/sql/append_messages.sql), which also moves the queue's counters and removes
 * what the queue's count and byte limits no longer keep.
 */
export class MessageStore {
  private readonly db: Database;

  constructor(deps: { db: Database }) {
    this.db = deps.db;
  }

  /**
   * Stores a batch of one queue's messages in one statement, atomic on its own. Messages the
   * answer leaves out were not stored (the queue was removed meanwhile).
   */
  async append(queueId: QueueId, batch: readonly IncomingMessage[]): Promise<AppendedMessage[]> {
    // Base64 never needs escaping in JSON, so each body joins the text as it is instead of being
    // scanned and copied once more by JSON.stringify: for a body of megabytes that pass is a pause
    // of the event loop.
    let payload = '[';
    batch.forEach((message, i) => {
      const meta = JSON.stringify({
        i,
        ct: message.contentType,
        h: message.headers,
        ip: message.sourceIp,
        t: message.receivedAt.toISOString(),
        k: message.dedupKey,
        rq: message.request ?? null,
        a: message.runActions === true,
        lu: message.runLeaseUntil?.toISOString() ?? null,
      });
      payload += `${i === 0 ? '' : ','}${meta.slice(0, -1)},"b":"${message.body.toString('base64')}"}`;
    });
    payload += ']';
    // Encoding and sending megabytes are two long steps; other requests get a turn in between.
    if (payload.length > YIELD_ABOVE_CHARS) await new Promise((resolve) => setImmediate(resolve));
    const result = await this.db.execute(
      sql`select out_index, out_seq, out_duplicate from switchboard_append_messages(${queueId}::uuid, ${payload}::jsonb)`,
    );
    const rows = rowsOf<{ out_index: number | string; out_seq: number | string | bigint; out_duplicate: boolean }>(
      result,
    );
    return rows.map((r) => ({ index: Number(r.out_index), seq: Number(r.out_seq), duplicate: r.out_duplicate }));
  }

  /** Sequence numbers and body sizes of a page, in page order, without the bodies. */
  async sizes(
    queueId: QueueId,
    query: SizeQuery,
    db: Executor = this.db,
  ): Promise<Array<{ seq: number; size: number }>> {
    const conditions = [eq(messages.queueId, queueId)];
    if (query.after !== undefined) conditions.push(gt(messages.seq, query.after));
    if (query.before !== undefined) conditions.push(lt(messages.seq, query.before));
    const rows = await db
      .select({ seq: messages.seq, size: sql<number | string>`octet_length(${messages.body})` })
      .from(messages)
      .where(and(...conditions))
      .orderBy(query.newestFirst ? desc(messages.seq) : asc(messages.seq))
      .limit(query.limit);
    return rows.map((row) => ({ seq: Number(row.seq), size: Number(row.size) }));
  }

  /** The messages after `after` up to `through`, oldest first. */
  async after(queueId: QueueId, after: number, through: number, db: Executor = this.db): Promise<StoredMessage[]> {
    return db
      .select(messageColumns)
      .from(messages)
      .where(and(eq(messages.queueId, queueId), gt(messages.seq, after), lte(messages.seq, through)))
      .orderBy(asc(messages.seq));
  }

  /** The messages from `first` to `last`, both included. */
  async range(queueId: QueueId, first: number, last: number, newestFirst: boolean): Promise<StoredMessage[]> {
    return this.db
      .select(messageColumns)
      .from(messages)
      .where(and(eq(messages.queueId, queueId), gte(messages.seq, first), lte(messages.seq, last)))
      .orderBy(newestFirst ? desc(messages.seq) : asc(messages.seq));
  }

  /**
   * Deletes up to `limit` of the queue's oldest messages (of those received before
   * `receivedBefore`, when given), in `db`: a transaction holding the queue's row lock.
   */
  async deleteOldest(
    db: Executor,
    queueId: QueueId,
    receivedBefore: Date | undefined,
    limit: number,
  ): Promise<Array<{ seq: number; size: number }>> {
    const where: SQL | undefined = receivedBefore === undefined ? undefined : lt(messages.receivedAt, receivedBefore);
    const oldest = db
      .select({ seq: messages.seq })
      .from(messages)
      .where(and(eq(messages.queueId, queueId), where))
      .orderBy(asc(messages.seq))
      .limit(limit);
    return db
      .delete(messages)
      .where(and(eq(messages.queueId, queueId), inArray(messages.seq, oldest)))
      .returning({ seq: messages.seq, size: messages.size });
  }
}
