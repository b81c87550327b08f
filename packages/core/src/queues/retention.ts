import { type Database, messages, queues, type Transaction } from '@switchboard/db';
import { and, eq, isNotNull, lt, sql } from 'drizzle-orm';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';

/**
 * Removes messages older than their queue's retention age. Count and byte limits are kept at
 * write time (MessageWriter); age needs a clock, so it is swept periodically. Runs under the
 * queue's row lock, so it is safe with several processes sweeping and writing at once.
 */
export async function sweepRetention(deps: { db: Database; clock: Clock; logger: Logger }): Promise<number> {
  const due = await deps.db
    .select({ id: queues.id, name: queues.name, retentionSeconds: queues.retentionSeconds })
    .from(queues)
    .where(isNotNull(queues.retentionSeconds));
  let removed = 0;
  for (const queue of due) {
    const cutoff = new Date(deps.clock.now().getTime() - (queue.retentionSeconds ?? 0) * 1000);
    removed += await deps.db.transaction(async (tx) => expireQueue(tx as unknown as Transaction, queue.id, cutoff));
  }
  if (removed > 0) deps.logger.info({ removed }, 'expired messages removed');
  return removed;
}

async function expireQueue(tx: Transaction, queueId: string, cutoff: Date): Promise<number> {
  const [queue] = await tx
    .select({ droppedThroughSeq: queues.droppedThroughSeq })
    .from(queues)
    .where(eq(queues.id, queueId))
    .for('update');
  if (!queue) return 0;
  const gone = await tx
    .delete(messages)
    .where(and(eq(messages.queueId, queueId), lt(messages.receivedAt, cutoff)))
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
