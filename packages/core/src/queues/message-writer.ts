import type { Database } from '@switchboard/db';
import type { QueueId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { MessageStore } from './message-store.ts';

export interface IncomingMessage {
  queueId: QueueId;
  body: Buffer;
  contentType: string | null;
  headers: Record<string, string>;
  sourceIp: string | null;
  receivedAt: Date;
  dedupKey: string | null;
  /** The request line, kept for a queue whose actions read it. */
  request?: { method: string; path: string; query: Record<string, string> } | null;
  /** Whether the queue's actions are to run for it in the worker (a run is written with it). */
  runActions?: boolean;
  /** When this process's runner takes the run at once: the end of its claim. */
  runLeaseUntil?: Date | null;
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
  /**
   * Size of one statement's parameter (bodies in base64, headers). It is held several times over
   * while it is built and sent, and Postgres refuses a jsonb value over 256 MiB, so a burst of
   * large bodies is split; one message over the cap goes alone.
   */
  maxBatchBytes?: number;
  /** How many queues may be written at the same time; one queue is written by one batch at a time. */
  maxConcurrentQueues?: number;
}

/** A few MiB: hundreds of ordinary webhooks (a few KiB each) still share one statement. */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** What a message adds to its statement's parameter (see MessageStore.append): its body in base64, its headers as JSON. */
function statementBytes(message: IncomingMessage): number {
  let headerBytes = 0;
  for (const [name, value] of Object.entries(message.headers)) headerBytes += name.length + value.length + 6;
  return Math.ceil(message.body.length / 3) * 4 + headerBytes + 128;
}

/**
 * Group commit: messages that arrive while their queue's batch is being written wait for the
 * next batch and share it, so a burst costs a few commits, not one each; a lone message is
 * written at once. One batch is one statement (`switchboard_append_messages`, see
 * packages/db/sql/append_messages.sql), atomic on its own. A promise resolves only after that statement has committed:
 * that is when ingest may answer 2xx.
 */
export class MessageWriter {
  private pending = new Map<QueueId, Pending[]>();
  private writing = new Set<QueueId>();
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  private readonly maxConcurrent: number;
  private readonly store: MessageStore;

  constructor(deps: { db: Database; logger: Logger }, options: MessageWriterOptions = {}) {
    this.store = new MessageStore(deps);
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.maxConcurrent = options.maxConcurrentQueues ?? 4;
  }

  write(message: IncomingMessage): Promise<WrittenMessage> {
    return new Promise((resolve, reject) => {
      const list = this.pending.get(message.queueId);
      if (list) list.push({ message, resolve, reject });
      else this.pending.set(message.queueId, [{ message, resolve, reject }]);
      this.schedule();
    });
  }

  /** Resolves once every message handed in so far is committed (or has failed). */
  async drain(): Promise<void> {
    while (this.pending.size > 0 || this.writing.size > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private schedule(): void {
    for (const [queueId, list] of this.pending) {
      if (this.writing.size >= this.maxConcurrent) return;
      if (this.writing.has(queueId)) continue;
      const batch = list.splice(0, this.batchLength(list));
      if (list.length === 0) this.pending.delete(queueId);
      this.writing.add(queueId);
      this.flush(queueId, batch)
        .catch((error) => {
          for (const item of batch) item.reject(error);
        })
        .finally(() => {
          this.writing.delete(queueId);
          this.schedule();
        });
    }
  }

  /** How many of the waiting messages go into the next statement: within both caps, at least one. */
  private batchLength(list: Pending[]): number {
    let bytes = 0;
    let count = 0;
    for (const item of list) {
      if (count >= this.maxBatch) break;
      bytes += statementBytes(item.message);
      if (count > 0 && bytes > this.maxBatchBytes) break;
      count += 1;
    }
    return count;
  }

  private async flush(queueId: QueueId, batch: Pending[]): Promise<void> {
    const appended = await this.store.append(
      queueId,
      batch.map((item) => item.message),
    );
    const written = new Map(appended.map((m) => [m.index, m]));
    batch.forEach((item, i) => {
      const row = written.get(i);
      if (row) item.resolve({ seq: row.seq, duplicate: row.duplicate });
      else item.reject(new Error('the queue was removed while the message was being stored'));
    });
  }
}
