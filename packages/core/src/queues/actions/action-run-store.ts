import { actionRuns, type Database, type Executor, messageRuns } from '@switchboard/db';
import { and, eq, sql } from 'drizzle-orm';
import { readColumn } from '../../outbound/kind.ts';
import { enqueueDeliveries } from '../../outbound/outbound-store.ts';
import { rowsOf } from '../../shared/db-rows.ts';
import type { DeliveryId, QueueId } from '../../shared/ids.ts';
import type { StepRecord } from './action-chain.ts';
import type { OwedRequest } from './action-types.ts';

/** A message whose actions a runner has claimed, with what they read of it. */
export interface ClaimedRun {
  queueId: QueueId;
  seq: number;
  position: number;
  /** Attempts of the action at `position`, this one included. */
  attempts: number;
  context: Record<string, unknown>;
  body: Buffer;
  headers: Record<string, string>;
  sourceIp: string | null;
  request: { method: string; path: string; query: Record<string, string> } | null;
}

/** A request an action owes, as written: already claimed for this process's worker when `leased`. */
export interface OwedDelivery {
  deliveryId: DeliveryId;
  webhookId: string;
  lane: string;
  owed: OwedRequest;
  leased: boolean;
  /** What it sends: its own body, or the message's. */
  body: Buffer;
}

/** How a message's run stands after this attempt. */
export interface RunEnd {
  queueId: QueueId;
  seq: number;
  steps: readonly StepRecord[];
  status: 'succeeded' | 'failed' | 'pending';
  /** For `pending`: the action to start from, and when. */
  position: number;
  dueAt: Date;
  context: Record<string, unknown>;
  error: string | null;
  /** The message's bytes, which a forward of it sends. */
  body?: Buffer;
}

/** One action of a message as it last ran, with its delivery's state for one an outbound delivery carries. */
export interface ActionRunRow {
  position: number;
  action: string;
  status: string;
  output: string | null;
  error: string | null;
  durationMs: number | null;
  attempts: number;
  startedAt: Date;
  finishedAt: Date | null;
  deliveryId: DeliveryId | null;
  deliveryStatus: string | null;
  deliveryAttempts: number | null;
}

/** How a message's run is named in notifications and feeds. */
export const runKey = (queueId: string, seq: number): string => `${queueId}:${seq}`;

/** A NOTIFY payload holds at most 8,000 bytes: keys go in chunks well under it. */
const KEYS_PER_NOTIFY = 100;

/** Tells every process's streams, on commit, that these messages' runs changed. */
async function announce(db: Executor, runs: ReadonlyArray<{ queueId: string; seq: number }>): Promise<void> {
  const keys = [...new Set(runs.map((r) => runKey(r.queueId, r.seq)))];
  for (let i = 0; i < keys.length; i += KEYS_PER_NOTIFY) {
    await db.execute(
      sql`select pg_notify('switchboard_action_runs', ${JSON.stringify(keys.slice(i, i + KEYS_PER_NOTIFY))})`,
    );
  }
}

/**
 * The one owner of `message_runs` and `action_runs`. Rows of `message_runs` are written with their
 * message by `switchboard_append_messages` (packages/db/sql/append_messages.sql); the requests that
 * actions owe go to `deliveries` through the outbound store.
 */
export class ActionRunStore {
  constructor(private readonly db: Database) {}

  /**
   * Leases up to `limit` due runs (pending ones, and running ones whose runner's lease ran out),
   * counting an attempt of the action each is at, with their messages.
   */
  async claim(limit: number, leaseMs: number, now: Date): Promise<ClaimedRun[]> {
    const at = now.toISOString();
    const result = await this.db.execute(sql`
      with due as (
        select queue_id, seq from message_runs
         where status in ('pending', 'running') and due_at <= ${at}::timestamptz
         order by due_at
         limit ${limit}
         for update skip locked)
      update message_runs r
         set status = 'running', attempts = r.attempts + 1,
             due_at = ${at}::timestamptz + make_interval(secs => ${leaseMs / 1000})
        from due, messages m
       where r.queue_id = due.queue_id and r.seq = due.seq and m.queue_id = r.queue_id and m.seq = r.seq
      returning r.queue_id, r.seq, r.position, r.attempts, r.context, m.body, m.headers, m.source_ip, m.request`);
    return rowsOf<Record<string, unknown>>(result).map((row) => ({
      queueId: String(row.queue_id) as QueueId,
      seq: Number(row.seq),
      position: Number(row.position),
      attempts: Number(row.attempts),
      context: readColumn.json<Record<string, unknown>>(row.context) ?? {},
      body: readColumn.buffer(row.body),
      headers: readColumn.json<Record<string, string>>(row.headers),
      sourceIp: (row.source_ip as string | null) ?? null,
      request: row.request ? readColumn.json<ClaimedRun['request']>(row.request) : null,
    }));
  }

  /** When the next run falls due, or null when none waits. */
  async nextDue(): Promise<Date | null> {
    const result = await this.db.execute(
      sql`select min(due_at) as due from message_runs where status in ('pending', 'running')`,
    );
    const due = rowsOf<{ due: unknown }>(result)[0]?.due;
    return due ? readColumn.date(due) : null;
  }

  /**
   * Records how the runs went, in one transaction: each step's row (a step that owes a request with
   * its delivery, queued now), and each run's state. With `leaseFor`, the owed requests are written
   * already claimed until the time it gives, for this process's worker to adopt (see OwedDelivery).
   */
  async record(ends: readonly RunEnd[], now: Date, leaseFor?: (timeoutMs: number) => Date): Promise<OwedDelivery[]> {
    if (ends.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const owed = ends.flatMap((end) => end.steps.filter((s) => s.owed).map((step) => ({ end, step })));
      const written = await enqueueDeliveries(
        tx,
        owed.map(({ end, step }) => ({
          kind: 'action',
          lane: end.queueId,
          timeoutMs: step.owed?.timeoutMs ?? 15_000,
          ...(step.owed?.body ? { body: step.owed.body } : {}),
          ...(leaseFor ? { leaseUntil: leaseFor(step.owed?.timeoutMs ?? 15_000) } : {}),
        })),
        now,
      );
      const ids = written.map((w) => w.id);
      const deliveryOf = new Map(owed.map(({ step }, i) => [step, ids[i] ?? null]));
      await this.writeSteps(
        tx,
        ends.flatMap((end) =>
          end.steps.map((step) => ({
            queueId: end.queueId,
            seq: end.seq,
            step,
            deliveryId: deliveryOf.get(step) ?? null,
          })),
        ),
        now,
      );
      const rows = ends.map((end) => ({
        q: end.queueId,
        s: end.seq,
        st: end.status,
        p: end.position,
        d: end.dueAt.toISOString(),
        c: end.context,
        e: end.error,
      }));
      await tx.execute(sql`
        update message_runs r
           set status = x.st, position = x.p, due_at = x.d, context = x.c, error = x.e,
               attempts = case when x.st = 'pending' and x.p <> r.position then 0 else r.attempts end,
               finished_at = case when x.st in ('succeeded', 'failed') then ${now.toISOString()}::timestamptz end
          from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
            as x(q uuid, s bigint, st text, p integer, d timestamptz, c jsonb, e text)
         where r.queue_id = x.q and r.seq = x.s`);
      await announce(tx, ends);
      return owed.map(({ end, step }, i) => ({
        deliveryId: written[i]?.id as DeliveryId,
        webhookId: written[i]?.webhookId as string,
        lane: end.queueId,
        owed: step.owed as OwedRequest,
        leased: leaseFor !== undefined,
        body: step.owed?.body ?? end.body ?? Buffer.alloc(0),
      }));
    });
  }

  /** A run made while the sender waited (a queue that answers after its actions), recorded as it ended. */
  async recordInline(end: RunEnd, now: Date): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx
        .insert(messageRuns)
        .values({
          queueId: end.queueId,
          seq: end.seq,
          status: end.status,
          position: end.position,
          attempts: 1,
          dueAt: now,
          context: end.context,
          error: end.error,
          createdAt: now,
          finishedAt: now,
        })
        .onConflictDoUpdate({
          target: [messageRuns.queueId, messageRuns.seq],
          set: { status: end.status, position: end.position, context: end.context, error: end.error, finishedAt: now },
        });
      await this.writeSteps(
        tx,
        end.steps.map((step) => ({ queueId: end.queueId, seq: end.seq, step, deliveryId: null })),
        now,
      );
      await announce(tx, [end]);
    });
  }

  private async writeSteps(
    db: Executor,
    rows: ReadonlyArray<{ queueId: QueueId; seq: number; step: StepRecord; deliveryId: DeliveryId | null }>,
    now: Date,
  ): Promise<void> {
    if (rows.length === 0) return;
    // One parameter for the whole batch: a row builder per value costs more CPU than the statement.
    const batch = rows.map(({ queueId, seq, step, deliveryId }) => ({
      q: queueId,
      s: seq,
      p: step.position,
      a: step.action,
      st: step.status,
      o: step.output,
      e: step.error,
      d: step.durationMs,
      t: step.startedAt.toISOString(),
      dl: deliveryId,
      r: step.owed
        ? {
            url: step.owed.url,
            method: step.owed.method,
            headers: step.owed.headers,
            retryPolicy: step.owed.retryPolicy,
            signingSecret: step.owed.signingSecret,
          }
        : null,
    }));
    await db.execute(sql`
      insert into action_runs (queue_id, seq, position, action, status, output, error, duration_ms, attempts,
                               started_at, finished_at, delivery_id, request)
      select x.q, x.s, x.p, x.a, x.st, x.o, x.e, x.d, 1, x.t, ${now.toISOString()}::timestamptz, x.dl, x.r
        from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb)
          as x(q uuid, s bigint, p integer, a text, st text, o text, e text, d integer, t timestamptz, dl bigint, r jsonb)
      on conflict (queue_id, seq, position) do update
         set action = excluded.action, status = excluded.status, output = excluded.output, error = excluded.error,
             duration_ms = excluded.duration_ms, attempts = action_runs.attempts + 1,
             started_at = excluded.started_at, finished_at = excluded.finished_at,
             delivery_id = excluded.delivery_id, request = excluded.request`);
  }

  /** A message's run and its actions' rows, in order; null when it has none. */
  async find(
    queueId: QueueId,
    seq: number,
  ): Promise<{ status: string; error: string | null; actions: ActionRunRow[] } | null> {
    const [run] = await this.db
      .select({ status: messageRuns.status, error: messageRuns.error })
      .from(messageRuns)
      .where(and(eq(messageRuns.queueId, queueId), eq(messageRuns.seq, seq)));
    if (!run) return null;
    const result = await this.db.execute(sql`
      select a.position, a.action, a.status, a.output, a.error, a.duration_ms, a.attempts, a.started_at,
             a.finished_at, a.delivery_id, d.status as delivery_status, d.attempts as delivery_attempts
        from action_runs a left join deliveries d on d.id = a.delivery_id
       where a.queue_id = ${queueId}::uuid and a.seq = ${seq}
       order by a.position`);
    const actions = rowsOf<Record<string, unknown>>(result).map((row) => ({
      position: Number(row.position),
      action: String(row.action),
      status: String(row.status),
      output: (row.output as string | null) ?? null,
      error: (row.error as string | null) ?? null,
      durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
      attempts: Number(row.attempts),
      startedAt: readColumn.date(row.started_at),
      finishedAt: row.finished_at ? readColumn.date(row.finished_at) : null,
      deliveryId: row.delivery_id === null ? null : (Number(row.delivery_id) as DeliveryId),
      deliveryStatus: (row.delivery_status as string | null) ?? null,
      deliveryAttempts: row.delivery_attempts === null ? null : Number(row.delivery_attempts),
    }));
    return { status: run.status, error: run.error, actions };
  }

  /**
   * Runs the message's actions again from the first, in the worker: `gone` when the message is,
   * `running` while a runner holds its run (a second one would run the list twice at once).
   */
  async rerun(queueId: QueueId, seq: number, now: Date): Promise<'queued' | 'gone' | 'running'> {
    return this.db.transaction(async (tx) => {
      const found = await tx.execute(
        sql`select 1 from messages where queue_id = ${queueId}::uuid and seq = ${seq} for update`,
      );
      if (rowsOf(found).length === 0) return 'gone';
      const held = await tx.execute(sql`
        select 1 from message_runs
         where queue_id = ${queueId}::uuid and seq = ${seq} and status = 'running' and due_at > ${now.toISOString()}::timestamptz
         for update`);
      if (rowsOf(held).length > 0) return 'running';
      await tx.delete(actionRuns).where(and(eq(actionRuns.queueId, queueId), eq(actionRuns.seq, seq)));
      await tx
        .insert(messageRuns)
        .values({ queueId, seq, status: 'pending', position: 0, attempts: 0, dueAt: now, context: {}, createdAt: now })
        .onConflictDoUpdate({
          target: [messageRuns.queueId, messageRuns.seq],
          set: { status: 'pending', position: 0, attempts: 0, dueAt: now, context: {}, error: null, finishedAt: null },
        });
      await announce(tx, [{ queueId, seq }]);
      return 'queued' as const;
    });
  }

  /** The messages whose actions these deliveries carry on, as run keys. */
  async keysOfDeliveries(deliveryIds: readonly number[]): Promise<string[]> {
    if (deliveryIds.length === 0) return [];
    const result = await this.db.execute(sql`
      select queue_id, seq from action_runs where delivery_id = any(${`{${deliveryIds.join(',')}}`}::bigint[])`);
    return rowsOf<{ queue_id: string; seq: unknown }>(result).map((r) => runKey(r.queue_id, Number(r.seq)));
  }

  /** The request an action's delivery makes, and the message bytes a forward resends; by delivery. */
  async requestsOf(
    deliveryIds: readonly DeliveryId[],
  ): Promise<Map<DeliveryId, { request: Record<string, unknown>; messageBody: Buffer }>> {
    if (deliveryIds.length === 0) return new Map();
    const result = await this.db.execute(sql`
      select a.delivery_id, a.request, m.body
        from action_runs a join messages m on m.queue_id = a.queue_id and m.seq = a.seq
       where a.delivery_id = any(${`{${deliveryIds.join(',')}}`}::bigint[])`);
    return new Map(
      rowsOf<Record<string, unknown>>(result).map((row) => [
        Number(row.delivery_id) as DeliveryId,
        { request: readColumn.json<Record<string, unknown>>(row.request), messageBody: readColumn.buffer(row.body) },
      ]),
    );
  }
}
