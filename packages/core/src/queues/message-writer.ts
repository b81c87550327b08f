import { type Database, messages, queues, type Transaction } from '@switchboard/db';
import { and, asc, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS } from '../shared/pubsub.ts';

export interface IncomingMessage {
  queueId: string;
  body: Buffer;
  contentType: string | null;
  headers: Record<string, string>;
  sourceIp: string | null;
  receivedAt: Date;
  dedupKey: string | null;
}

export interface WrittenMessage {
  seq: number;
  /** True when a message with the same de-duplication key was already stored; `seq` is that one's. */
  duplicate: boolean;
}

interface Pending {
  message: IncomingMessage;
  resolve: (written: WrittenMessage) => void;
  reject: (error: unknown) => void;
}

export interface MessageWriterOptions {
  maxBatch?: number;
  maxConcurrentFlushes?: number;
}

/**
 * Group commit: messages that arrive while a transaction is committing wait for the next one and
 * share it, so a burst costs a few commits, not one each. A single message is written at once.
 * A promise resolves only after its transaction has committed: that is when ingest may say 2xx.
 */
export class MessageWriter {
  private pending: Pending[] = [];
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;

  constructor(
    private readonly deps: { db: Database; logger: Logger },
    options: MessageWriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.maxConcurrent = options.maxConcurrentFlushes ?? 4;
  }

  write(message: IncomingMessage): Promise<WrittenMessage> {
    return new Promise((resolve, reject) => {
      this.pending.push({ message, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every message handed in so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private schedule(): void {
    while (this.inFlight < this.maxConcurrent && this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.inFlight++;
      this.flush(batch)
        .catch((error) => {
          for (const item of batch) item.reject(error);
        })
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    const byQueue = new Map<string, Pending[]>();
    for (const item of batch) {
      const list = byQueue.get(item.message.queueId) ?? [];
      list.push(item);
      byQueue.set(item.message.queueId, list);
    }
    // Locks taken in one order everywhere, so two batches never wait on each other in a cycle.
    const queueIds = [...byQueue.keys()].sort();
    const results = await this.deps.db.transaction(async (tx) => {
      const out = new Map<Pending, WrittenMessage>();
      for (const queueId of queueIds) {
        await this.writeQueueBatch(tx as unknown as Transaction, queueId, byQueue.get(queueId) ?? [], out);
      }
      return out;
    });
    for (const item of batch) {
      const written = results.get(item);
      if (written) item.resolve(written);
      else item.reject(new Error('the queue was removed while the message was being stored'));
    }
  }

  private async writeQueueBatch(
    tx: Transaction,
    queueId: string,
    items: Pending[],
    out: Map<Pending, WrittenMessage>,
  ): Promise<void> {
    const [queue] = await tx
      .select({
        lastSeq: queues.lastSeq,
        messageCount: queues.messageCount,
        totalBytes: queues.totalBytes,
        maxMessageCount: queues.maxMessageCount,
        maxQueueBytes: queues.maxQueueBytes,
        droppedThroughSeq: queues.droppedThroughSeq,
      })
      .from(queues)
      .where(eq(queues.id, queueId))
      .for('update');
    if (!queue) return;

    // Repeats of messages already stored, or of one earlier in this same batch, are not stored again.
    const keys = [...new Set(items.map((i) => i.message.dedupKey).filter((k): k is string => k !== null))];
    const known = new Map<string, number>();
    if (keys.length > 0) {
      const rows = await tx
        .select({ key: messages.dedupKey, seq: messages.seq })
        .from(messages)
        .where(and(eq(messages.queueId, queueId), inArray(messages.dedupKey, keys)));
      for (const row of rows) if (row.key) known.set(row.key, row.seq);
    }

    let seq = queue.lastSeq;
    let bytes = 0;
    const rows: Array<typeof messages.$inferInsert> = [];
    for (const item of items) {
      const key = item.message.dedupKey;
      const existing = key ? known.get(key) : undefined;
      if (existing !== undefined) {
        out.set(item, { seq: existing, duplicate: true });
        continue;
      }
      seq += 1;
      if (key) known.set(key, seq);
      bytes += item.message.body.length;
      rows.push({ ...item.message, seq, size: item.message.body.length });
      out.set(item, { seq, duplicate: false });
    }
    if (rows.length === 0) return;
    await tx.insert(messages).values(rows);

    const trimmed = await this.trimToLimits(tx, queueId, {
      count: queue.messageCount + rows.length,
      bytes: queue.totalBytes + bytes,
      maxCount: queue.maxMessageCount,
      maxBytes: queue.maxQueueBytes,
      after: queue.droppedThroughSeq,
    });
    await tx
      .update(queues)
      .set({
        lastSeq: seq,
        messageCount: queue.messageCount + rows.length - trimmed.count,
        totalBytes: queue.totalBytes + bytes - trimmed.bytes,
        droppedThroughSeq: Math.max(queue.droppedThroughSeq, trimmed.throughSeq),
      })
      .where(eq(queues.id, queueId));
    // Delivered on commit, to every process: live subscribers fetch what is new.
    await tx.execute(sql`select pg_notify(${CHANNELS.messages}, ${JSON.stringify({ queueId, lastSeq: seq })})`);
  }

  /** Removes the oldest messages until the queue is within its count and byte limits. */
  private async trimToLimits(
    tx: Transaction,
    queueId: string,
    state: { count: number; bytes: number; maxCount: number | null; maxBytes: number | null; after: number },
  ): Promise<{ count: number; bytes: number; throughSeq: number }> {
    const within = (count: number, bytes: number) =>
      (state.maxCount === null || count <= state.maxCount) && (state.maxBytes === null || bytes <= state.maxBytes);
    let count = state.count;
    let bytes = state.bytes;
    let throughSeq = 0;
    let after = state.after;
    while (!within(count, bytes)) {
      const oldest = await tx
        .select({ seq: messages.seq, size: messages.size })
        .from(messages)
        .where(and(eq(messages.queueId, queueId), gt(messages.seq, after)))
        .orderBy(asc(messages.seq))
        .limit(1000);
      if (oldest.length === 0) break;
      for (const row of oldest) {
        if (within(count, bytes)) break;
        count -= 1;
        bytes -= row.size;
        throughSeq = row.seq;
      }
      after = oldest[oldest.length - 1]?.seq ?? after;
    }
    if (throughSeq === 0) return { count: 0, bytes: 0, throughSeq: 0 };
    await tx.delete(messages).where(and(eq(messages.queueId, queueId), lte(messages.seq, throughSeq)));
    return { count: state.count - count, bytes: state.bytes - bytes, throughSeq };
  }
}
