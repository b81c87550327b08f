import { type Database, messages, queues, type Transaction } from '@switchboard/db';
import { and, asc, eq, inArray, isNotNull, lt, type SQL, sql } from 'drizzle-orm';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * Messages removed by one statement. Every statement runs under the statement deadline, so a
 * backlog of a million messages is removed a batch at a time, each in its own short transaction.
 */
export const REMOVAL_BATCH_SIZE = 10_000;

/**
 * Removes messages older than their queue's retention age. Count and byte limits are kept at
 * write time (MessageWriter); age needs a clock, so it is swept periodically. Each batch runs
 * under the queue's row lock, so it is safe with several processes sweeping and writing at once.
 */
export async function sweepRetention(deps: {
  db: Database;
  clock: Clock;
  logger: Logger;
  batchSize?: number;
}): Promise<number> {
  const due = await deps.db
    .select({ id: queues.id, name: queues.name, retentionSeconds: queues.retentionSeconds })
    .from(queues)
    .where(isNotNull(queues.retentionSeconds));
  let removed = 0;
  for (const queue of due) {
    const cutoff = new Date(deps.clock.now().getTime() - (queue.retentionSeconds ?? 0) * 1000);
    removed += await removeMessages(deps.db, queue.id, lt(messages.receivedAt, cutoff), deps.batchSize);
  }
  if (removed > 0) deps.logger.info({ removed }, 'expired messages removed');
  return removed;
}

/**
 * Removes a queue's messages that match `where`, oldest first, a batch per transaction, keeping
 * the queue's counters and its dropped-through mark right after every batch: stopped half way,
 * the queue is as if the oldest of them had been dropped.
 */
export async function removeMessages(
  db: Database,
  queueId: string,
  where: SQL | undefined,
  batchSize = REMOVAL_BATCH_SIZE,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const batch = await db.transaction(async (tx) =>
      removeBatch(tx as unknown as Transaction, queueId, where, batchSize),
    );
    removed += batch;
    if (batch < batchSize) return removed;
  }
}

async function removeBatch(tx: Transaction, queueId: string, where: SQL | undefined, limit: number): Promise<number> {
  const [queue] = await tx
    .select({ droppedThroughSeq: queues.droppedThroughSeq })
    .from(queues)
    .where(eq(queues.id, queueId))
    .for('update');
  if (!queue) return 0;
  const oldest = tx
    .select({ seq: messages.seq })
    .from(messages)
    .where(and(eq(messages.queueId, queueId), where))
    .orderBy(asc(messages.seq))
    .limit(limit);
  const gone = await tx
    .delete(messages)
    .where(and(eq(messages.queueId, queueId), inArray(messages.seq, oldest)))
    .returning({ seq: messages.seq, size: messages.size });
  if (gone.length === 0) return 0;
  const bytes = gone.reduce((sum, m) => sum + m.size, 0);
  const through = gone.reduce((max, m) => Math.max(max, m.seq), queue.droppedThroughSeq);
  await tx
    .update(queues)
    .set({
      messageCount: sql`${queues.messageCount} - ${gone.length}`,
      totalBytes: sql`${queues.totalBytes} - ${bytes}`,
      droppedThroughSeq: through,
    })
    .where(eq(queues.id, queueId));
  return gone.length;
}
