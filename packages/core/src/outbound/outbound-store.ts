import { type Database, type DeliveryKind, deliveries, deliveryAttempts, type Executor } from '@switchboard/db';
import { and, eq, gte, type SQL, sql } from 'drizzle-orm';
import { rowsOf } from '../shared/db-rows.ts';
import type { DeliveryId, EventId, JobId, SubscriptionId } from '../shared/ids.ts';
import { type ClaimedDelivery, type ClaimedRecord, type ClaimedRow, type OutboundKinds, readColumn } from './kind.ts';
import type { AttemptOutcome } from './outcome.ts';

/**
 * Claims up to `limit` due deliveries in one statement (`switchboard_claim_deliveries`, see
 * packages/db/sql/claim_deliveries.sql), then has each kind plan its rows (see OutboundKinds). A
 * claim is a lease: the row becomes `delivering` with `next_attempt_at` moved to when the lease
 * ends (the delivery's timeout plus a margin). Rows locked by another worker are skipped, never
 * waited for. A row claimed again after its lease ran out gets an attempt recorded for the try that
 * was lost.
 */
export async function claimDeliveries(
  db: Database,
  kinds: OutboundKinds,
  input: {
    now: Date;
    limit: number;
    leaseMarginMs: number;
    eventId?: EventId | undefined;
    jobId?: JobId | undefined;
    /** A lane's cap when its subscription sets none, and every job owner's (default: no cap). */
    defaultMaxInFlight?: number;
    /** Claimed ahead of a lane's cap, for lanes left out of laneRoom (default 0). */
    laneAhead?: number;
    /** How many more of each lane the claimer has room for; lanes left out get their cap and laneAhead. */
    laneRoom?: Readonly<Record<string, number>>;
  },
): Promise<ClaimedDelivery[]> {
  // Each kind's claim join reads what its rows refer to in this same statement. Each is fenced
  // (offset 0) so that it runs per claimed row by primary key, never as a scan of its tables.
  const joins = kinds.claimJoins();
  const selected = joins.map((j) => sql`, ${sql.identifier(j.as)}.*`);
  const joined = joins.map((j) => sql` left join lateral (${j.query} offset 0) ${sql.identifier(j.as)} on true`);
  const result = await db.execute(sql`
    select c.*${sql.join(selected)}
      from switchboard_claim_deliveries(${input.now.toISOString()}::timestamptz, ${input.limit}::int,
                                        ${input.leaseMarginMs}::int, ${input.eventId ?? null}::uuid,
                                        ${input.jobId ?? null}::uuid, ${input.defaultMaxInFlight ?? input.limit}::int,
                                        ${input.laneAhead ?? 0}::int, ${JSON.stringify(input.laneRoom ?? {})}::jsonb) c${sql.join(joined)}`);
  return kinds.prepare(rowsOf(result).map(toClaimed), input.now);
}

function toClaimed(row: ClaimedRow): ClaimedRecord {
  return {
    deliveryId: Number(row.id) as DeliveryId,
    kind: String(row.kind),
    webhookId: String(row.webhook_id),
    attempt: Number(row.attempts),
    attemptOffset: Number(row.attempt_offset),
    firstAttemptAt: readColumn.date(row.first_attempt_at),
    lane: String(row.lane),
    maxInFlight: row.max_in_flight === null || row.max_in_flight === undefined ? null : Number(row.max_in_flight),
    timeoutMs: Number(row.timeout_ms),
    columns: row,
  };
}

/** Records a batch of outcomes; resolves to the subscriptions it disabled. */
export async function completeDeliveries(
  db: Database,
  now: Date,
  outcomes: readonly AttemptOutcome[],
): Promise<Array<{ subscriptionId: SubscriptionId; reason: string }>> {
  const batch = JSON.stringify(outcomes.map(toWire));
  const result = await db.execute(
    sql`select out_subscription_id, out_reason from switchboard_complete_deliveries(${now.toISOString()}::timestamptz, ${batch}::jsonb)`,
  );
  return rowsOf(result).map((row) => ({
    subscriptionId: String(row.out_subscription_id) as SubscriptionId,
    reason: String(row.out_reason),
  }));
}

/**
 * One outcome in the compact form `switchboard_complete_deliveries` reads (see
 * packages/db/sql/complete_deliveries.sql): short keys, because a busy worker sends hundreds of
 * them per statement.
 */
function toWire(outcome: AttemptOutcome) {
  const { response, job } = outcome;
  return {
    id: outcome.deliveryId,
    n: outcome.attempt,
    rec: outcome.disposition === 'attempted',
    ok: outcome.succeeded,
    st: outcome.status,
    nxt: outcome.nextAttemptAt?.toISOString() ?? null,
    t: outcome.startedAt.toISOString(),
    dur: outcome.durationMs,
    sc: response?.status ?? null,
    h: response?.headers ?? null,
    b: response?.body ? response.body.toString('base64') : null,
    tr: response?.truncated ?? false,
    err: outcome.error,
    gone: outcome.endpointGone,
    ...(job
      ? {
          jst: job.state,
          cb: job.callback ? job.callback.body.toString('base64') : null,
          cbt: job.callback?.timeoutMs ?? null,
        }
      : {}),
  };
}

/**
 * When the next delivery falls due, or null when none waits, leaving out the lanes in `fullLanes`
 * (see ClaimedDelivery.lane): their rows cannot be claimed until the lane has room again.
 */
export async function findNextDue(db: Database, fullLanes: readonly string[] = []): Promise<Date | null> {
  const full = `{${fullLanes.join(',')}}`;
  const result = await db.execute(sql`
    select d.next_attempt_at as due
      from deliveries d
     where d.claimable and d.lane <> all (${full}::uuid[])
     order by d.next_attempt_at
     limit 1`);
  const due = rowsOf(result)[0]?.due;
  return due ? readColumn.date(due) : null;
}

/*
 * Writes of the `deliveries` and `delivery_attempts` tables made outside a claim or a completion:
 * every one is here, so that this file is the tables' one owner. Each kind calls them.
 */

/**
 * New deliveries of any kind, due now, each in its lane (see ClaimedRecord) with its timeout; their
 * ids and webhook ids in order. A row with `leaseUntil` is written already claimed (its first
 * attempt started now), for this process's worker to adopt.
 */
export async function enqueueDeliveries(
  db: Executor,
  rows: ReadonlyArray<{
    kind: DeliveryKind;
    lane: string;
    timeoutMs: number;
    maxInFlight?: number | null;
    eventId?: EventId;
    subscriptionId?: SubscriptionId;
    jobId?: JobId;
    body?: Buffer;
    leaseUntil?: Date;
  }>,
  now: Date,
): Promise<Array<{ id: DeliveryId; webhookId: string }>> {
  if (rows.length === 0) return [];
  // One multi-row INSERT returns its rows in the order of its VALUES.
  return db
    .insert(deliveries)
    .values(
      rows.map(({ leaseUntil, ...row }) => ({
        ...row,
        ...(leaseUntil ? { status: 'delivering' as const, attempts: 1, leasedAt: now, firstAttemptAt: now } : {}),
        nextAttemptAt: leaseUntil ?? now,
        createdAt: now,
        updatedAt: now,
      })),
    )
    .returning({ id: deliveries.id, webhookId: deliveries.webhookId });
}

/**
 * A new event's deliveries, as the body of a CTE that reads the event's id from `eventSource`
 * (`e.id`), so that the event and its deliveries are written in one statement. Deliveries with a
 * lease (`leaseUntil`) are written already claimed, for this process's worker. Answers the rows
 * written, with their status.
 */
export function insertEventDeliveriesSql(
  eventSource: SQL,
  at: string,
  targets: ReadonlyArray<{ subscriptionId: SubscriptionId; leaseUntil?: Date }>,
): SQL {
  const rows = targets.map((t) => ({ s: t.subscriptionId, l: t.leaseUntil?.toISOString() ?? null }));
  return sql`
        insert into deliveries (event_id, subscription_id, lane, timeout_ms, max_in_flight, status, attempts,
                                leased_at, first_attempt_at, next_attempt_at, created_at, updated_at)
        select ${eventSource}.id, s.id, s.id, s.timeout_ms, s.max_in_flight,
               case when t.l is null then 'pending' else 'delivering' end,
               case when t.l is null then 0 else 1 end,
               case when t.l is null then null else ${at}::timestamptz end,
               case when t.l is null then null else ${at}::timestamptz end,
               coalesce(t.l::timestamptz, ${at}::timestamptz), ${at}::timestamptz, ${at}::timestamptz
        from ${eventSource}, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as t(s text, l text)
        -- The matcher's snapshot may hold a subscription deleted a moment ago: it gets nothing.
        join subscriptions s on s.id = t.s::uuid
        returning id, webhook_id, subscription_id, status`;
}

/**
 * An event's deliveries to these subscriptions, due now (a replay, or an event with blocking
 * deliveries). A subscription deleted since it was matched gets nothing.
 */
export async function enqueueEventDeliveries(
  db: Executor,
  eventId: EventId,
  subscriptionIds: readonly SubscriptionId[],
  now: Date,
): Promise<void> {
  if (subscriptionIds.length === 0) return;
  const at = now.toISOString();
  await db.execute(sql`
    insert into deliveries (event_id, subscription_id, lane, timeout_ms, max_in_flight, next_attempt_at, created_at,
                            updated_at)
    select ${eventId}::uuid, x.id, x.id, x.timeout_ms, x.max_in_flight, ${at}::timestamptz, ${at}::timestamptz,
           ${at}::timestamptz
    from jsonb_array_elements_text(${JSON.stringify(subscriptionIds)}::jsonb) as s
    join subscriptions x on x.id = s::uuid`);
}

/** A delivery whose first attempt was made before it was written (a blocking subscription's), with that attempt. */
export async function insertAttemptedDelivery(
  db: Executor,
  delivery: { webhookId: string; eventId: EventId; subscriptionId: SubscriptionId },
  outcome: AttemptOutcome,
  now: Date,
): Promise<void> {
  const [row] = await db
    .insert(deliveries)
    .values({
      ...delivery,
      lane: delivery.subscriptionId,
      timeoutMs: sql`(select s.timeout_ms from subscriptions s where s.id = ${delivery.subscriptionId}::uuid)`,
      maxInFlight: sql`(select s.max_in_flight from subscriptions s where s.id = ${delivery.subscriptionId}::uuid)`,
      status: outcome.status,
      attempts: 1,
      leasedAt: now,
      firstAttemptAt: now,
      lastAttemptAt: now,
      nextAttemptAt: outcome.nextAttemptAt,
      lastStatusCode: outcome.response?.status ?? null,
      lastError: outcome.error,
      completedAt: outcome.status === 'pending' ? null : now,
      createdAt: now,
      updatedAt: now,
    })
    .returning({ id: deliveries.id });
  await db.insert(deliveryAttempts).values({
    deliveryId: (row as NonNullable<typeof row>).id,
    number: 1,
    startedAt: now,
    durationMs: outcome.durationMs,
    statusCode: outcome.response?.status ?? null,
    responseHeaders: outcome.response?.headers ?? null,
    responseBody: outcome.response?.body ?? null,
    responseTruncated: outcome.response?.truncated ?? false,
    error: outcome.error,
    succeeded: outcome.succeeded,
  });
}

/** Which deliveries: a subscription's, or a job's own request. */
type Owner = { subscriptionId: SubscriptionId } | { jobRequestOf: JobId };

const ownedBy = (owner: Owner) =>
  'subscriptionId' in owner
    ? eq(deliveries.subscriptionId, owner.subscriptionId)
    : and(eq(deliveries.jobId, owner.jobRequestOf), eq(deliveries.kind, 'job'));

/** Pending deliveries end without being sent (a subscription disabled, a job cancelled). */
export async function failPendingDeliveries(
  db: Executor,
  owner: Owner,
  end: { status: 'failed' | 'cancelled'; error: string; now: Date },
): Promise<void> {
  await db
    .update(deliveries)
    .set({ status: end.status, nextAttemptAt: null, completedAt: end.now, updatedAt: end.now, lastError: end.error })
    .where(and(ownedBy(owner), eq(deliveries.status, 'pending')));
}

/**
 * Locks a job's request row for the rest of the transaction, in the order a worker's claim takes
 * it (the delivery before the job), so that the two never wait on each other.
 */
export async function lockJobRequest(db: Executor, jobId: JobId): Promise<void> {
  await db
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(ownedBy({ jobRequestOf: jobId }))
    .for('update');
}

/**
 * A subscription's timeout and cap changed: its deliveries not yet done take them (a claim held
 * now keeps its lease).
 */
export async function setLaneTerms(
  db: Executor,
  subscriptionId: SubscriptionId,
  terms: { timeoutMs: number; maxInFlight: number | null },
): Promise<void> {
  await db
    .update(deliveries)
    .set({ timeoutMs: terms.timeoutMs, maxInFlight: terms.maxInFlight })
    .where(
      and(
        eq(deliveries.subscriptionId, subscriptionId),
        sql`${deliveries.claimable}`,
        sql`(${deliveries.timeoutMs}, ${deliveries.maxInFlight}) is distinct from (${terms.timeoutMs}::int, ${terms.maxInFlight}::int)`,
      ),
    );
}

/**
 * Due again now, whatever became of them, with the retry policy started afresh; not while an
 * attempt is under way. Answers the ids changed.
 */
export async function requeueDeliveries(
  db: Executor,
  which: { id: DeliveryId } | { subscriptionId: SubscriptionId; failedSince: Date },
  now: Date,
): Promise<DeliveryId[]> {
  const where =
    'id' in which
      ? and(eq(deliveries.id, which.id), sql`${deliveries.status} <> 'delivering'`)
      : and(
          eq(deliveries.subscriptionId, which.subscriptionId),
          eq(deliveries.status, 'failed'),
          gte(deliveries.createdAt, which.failedSince),
        );
  const rows = await db
    .update(deliveries)
    .set({
      status: 'pending',
      nextAttemptAt: now,
      attemptOffset: sql`${deliveries.attempts}`,
      // The subscription's timeout and cap as they are now (setLaneTerms updates only those not done).
      timeoutMs: sql`coalesce((select s.timeout_ms from subscriptions s where s.id = ${deliveries.subscriptionId}), ${deliveries.timeoutMs})`,
      maxInFlight: sql`case when ${deliveries.subscriptionId} is null then ${deliveries.maxInFlight}
        else (select s.max_in_flight from subscriptions s where s.id = ${deliveries.subscriptionId}) end`,
      firstAttemptAt: null,
      completedAt: null,
      updatedAt: now,
    })
    .where(where)
    .returning({ id: deliveries.id });
  return rows.map((row) => row.id);
}
