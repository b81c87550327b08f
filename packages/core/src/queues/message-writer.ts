import type { Database } from '@switchboard/db';
import { sql } from 'drizzle-orm';
import type { Logger } from '../shared/logger.ts';

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
  /** How many queues may be written at the same time; one queue is written by one batch at a time. */
  maxConcurrentQueues?: number;
}

/**
 * Group commit: messages that arrive while their queue's batch is being written wait for the
 * next batch and share it, so a burst costs a few commits, not one each; a lone message is
 * written at once. One batch is one statement (`switchboard_append_messages`, see the
 * migrations), atomic on its own. A promise resolves only after that statement has committed:
 * that is when ingest may answer 2xx.
 */
export class MessageWriter {
  private pending = new Map<string, Pending[]>();
  private writing = new Set<string>();
  private readonly maxBatch: number;
  private readonly maxConcurrent: number;

  constructor(
    private readonly deps: { db: Database; logger: Logger },
    options: MessageWriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
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
      const batch = list.splice(0, this.maxBatch);
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

  private async flush(queueId: string, batch: Pending[]): Promise<void> {
    const payload = JSON.stringify(
      batch.map(({ message }, i) => ({
        i,
        b: message.body.toString('base64'),
        ct: message.contentType,
        h: message.headers,
        ip: message.sourceIp,
        t: message.receivedAt.toISOString(),
        k: message.dedupKey,
      })),
    );
    const result = await this.deps.db.execute(
      sql`select out_index, out_seq, out_duplicate from switchboard_append_messages(${queueId}::uuid, ${payload}::jsonb)`,
    );
    // postgres.js answers with the rows, PGlite with `{ rows }`.
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Array<{
      out_index: number | string;
      out_seq: number | string | bigint;
      out_duplicate: boolean;
    }>;
    const written = new Map(rows.map((r) => [Number(r.out_index), r]));
    batch.forEach((item, i) => {
      const row = written.get(i);
      if (row) item.resolve({ seq: Number(row.out_seq), duplicate: row.out_duplicate });
      else item.reject(new Error('the queue was removed while the message was being stored'));
    });
  }
}
