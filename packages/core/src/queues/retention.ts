import type { Database, Executor } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { QueueId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { MessageStore } from './message-store.ts';
import { QueueStore } from './queue-store.ts';

/**
 * Messages removed by one statement. Every statement runs under the statement deadline, so a
 * backlog of a million messages is removed a batch at a time, each in its own short transaction.
 */
export const REMOVAL_BATCH_SIZE = 10_000;

/** What removing messages works with. */
export interface RemovalStores {
  db: Database;
  queues: QueueStore;
  messages: MessageStore;
}

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
  const stores = { db: deps.db, queues: new QueueStore(deps), messages: new MessageStore(deps) };
  const due = await stores.queues.listWithRetention();
  let removed = 0;
  for (const queue of due) {
    const cutoff = new Date(deps.clock.now().getTime() - (queue.retentionSeconds ?? 0) * 1000);
    removed += await removeMessages(stores, queue.id, cutoff, deps.batchSize);
  }
  if (removed > 0) deps.logger.info({ removed }, 'expired messages removed');
  return removed;
}

/**
 * Removes a queue's messages (those received before `receivedBefore`, when given), oldest first,
 * a batch per transaction, keeping the queue's counters and its dropped-through mark right after
 * every batch: stopped half way, the queue is as if the oldest of them had been dropped.
 */
export async function removeMessages(
  stores: RemovalStores,
  queueId: QueueId,
  receivedBefore: Date | undefined,
  batchSize = REMOVAL_BATCH_SIZE,
): Promise<number> {
  let removed = 0;
  for (;;) {
    const batch = await stores.db.transaction(async (tx) =>
      removeBatch(stores, tx, queueId, receivedBefore, batchSize),
    );
    removed += batch;
    if (batch < batchSize) return removed;
  }
}

/** One batch, under the queue's row lock: taken first, as the writer takes it, then the messages go. */
async function removeBatch(
  stores: RemovalStores,
  tx: Executor,
  queueId: QueueId,
  receivedBefore: Date | undefined,
  limit: number,
): Promise<number> {
  const queue = await stores.queues.lockForRemoval(tx, queueId);
  if (!queue) return 0;
  const gone = await stores.messages.deleteOldest(tx, queueId, receivedBefore, limit);
  if (gone.length === 0) return 0;
  const bytes = gone.reduce((sum, m) => sum + m.size, 0);
  const through = gone.reduce((max, m) => Math.max(max, m.seq), queue.droppedThroughSeq);
  await stores.queues.recordRemoved(tx, queueId, { count: gone.length, bytes, droppedThroughSeq: through });
  return gone.length;
}
