import { type Database, rejectedMessages } from '@switchboard/db';
import { and, desc, eq, lt, sql } from 'drizzle-orm';
import type { QueueId } from '../shared/ids.ts';

/** How many refused requests a queue keeps: the newest, enough to see why senders are refused. */
export const KEPT_REJECTIONS = 1000;

export interface RejectedMessage {
  id: number;
  receivedAt: Date;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  sourceIp: string | null;
  rule: string;
  field: string;
  reason: string;
}

/** The one owner of `rejected_messages`: requests a queue's rules refused, kept when the queue asks. */
export class RejectedStore {
  constructor(private readonly db: Database) {}

  async insert(queueId: QueueId, rejected: Omit<RejectedMessage, 'id'>): Promise<void> {
    const [row] = await this.db
      .insert(rejectedMessages)
      .values({ queueId, ...rejected })
      .returning({ id: rejectedMessages.id });
    if (row && row.id % 100 === 0) {
      // Trimmed now and then rather than on every insert: a refused flood costs one insert each.
      await this.db.execute(sql`
        delete from rejected_messages
         where queue_id = ${queueId}::uuid
           and id < (select id from rejected_messages where queue_id = ${queueId}::uuid
                      order by id desc offset ${KEPT_REJECTIONS - 1} limit 1)`);
    }
  }

  /** The newest first, before `before` (an id) when given. */
  async list(queueId: QueueId, limit: number, before?: number): Promise<RejectedMessage[]> {
    const rows = await this.db
      .select()
      .from(rejectedMessages)
      .where(
        and(eq(rejectedMessages.queueId, queueId), before === undefined ? undefined : lt(rejectedMessages.id, before)),
      )
      .orderBy(desc(rejectedMessages.id))
      .limit(limit);
    return rows.map(({ queueId: _queueId, ...row }) => row);
  }
}
