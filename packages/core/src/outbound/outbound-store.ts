import type { Database } from '@switchboard/db';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../shared/db-rows.ts';
import { type ClaimedDelivery, type ClaimedRow, type OutboundKinds, readColumn } from './kind.ts';
import type { AttemptOutcome } from './outcome.ts';

/**
 * Claims up to `limit` due deliveries in one statement (`switchboard_claim_deliveries`, see
 * packages/db/sql/claim_deliveries.sql). A claim is a lease: the row becomes `delivering` with `next_attempt_at` moved to
 * when the lease ends (the subscription's timeout plus a margin). Rows locked by another worker are
 * skipped, never waited for. A row claimed again after its lease ran out gets an attempt recorded
 * for the try that was lost.
 */
export async function claimDeliveries(
  db: Database,
  kinds: OutboundKinds,
  input: {
    now: Date;
    limit: number;
    leaseMarginMs: number;
    eventId?: string | undefined;
    jobId?: string | undefined;
    /** A lane's cap when its subscription sets none, and every job owner's (default: no cap). */
    defaultMaxInFlight?: number;
    /** Claimed ahead of a lane's cap, for lanes left out of laneRoom (default 0). */
    laneAhead?: number;
    /** How many more of each lane the claimer has room for; lanes left out get their cap and laneAhead. */
    laneRoom?: Readonly<Record<string, number>>;
  },
): Promise<ClaimedDelivery[]> {
  const result = await db.execute(sql`
    select * from switchboard_claim_deliveries(${input.now.toISOString()}::timestamptz, ${input.limit}::int,
                                               ${input.leaseMarginMs}::int, ${input.eventId ?? null}::uuid,
                                               ${input.jobId ?? null}::uuid, ${input.defaultMaxInFlight ?? input.limit}::int,
                                               ${input.laneAhead ?? 0}::int, ${JSON.stringify(input.laneRoom ?? {})}::jsonb)`);
  return rowsOf(result).map((row) => toClaimed(kinds, row));
}

function toClaimed(kinds: OutboundKinds, row: ClaimedRow): ClaimedDelivery {
  const kind = String(row.kind) as ClaimedDelivery['kind'];
  return {
    deliveryId: Number(row.id),
    kind,
    webhookId: String(row.webhook_id),
    attempt: Number(row.attempts),
    attemptOffset: Number(row.attempt_offset),
    firstAttemptAt: readColumn.date(row.first_attempt_at),
    lane: String(row.lane),
    maxInFlight: row.max_in_flight === null || row.max_in_flight === undefined ? null : Number(row.max_in_flight),
    ...kinds.get(kind).prepare(row),
  };
}

/** Records a batch of outcomes; resolves to the subscriptions it disabled. */
export async function completeDeliveries(
  db: Database,
  now: Date,
  outcomes: readonly AttemptOutcome[],
): Promise<Array<{ subscriptionId: string; reason: string }>> {
  const batch = JSON.stringify(outcomes.map(toWire));
  const result = await db.execute(
    sql`select out_subscription_id, out_reason from switchboard_complete_deliveries(${now.toISOString()}::timestamptz, ${batch}::jsonb)`,
  );
  return rowsOf(result).map((row) => ({
    subscriptionId: String(row.out_subscription_id),
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
    ...(job ? { jst: job.state, cb: job.callback ? job.callback.toString('base64') : null } : {}),
  };
}

/**
 * When the next delivery falls due, or null when none waits, leaving out the lanes in `fullLanes`
 * (see ClaimedDelivery.lane): their rows cannot be claimed until the lane has room again.
 */
export async function findNextDue(db: Database, fullLanes: readonly string[] = []): Promise<Date | null> {
  const full = `{${fullLanes.join(',')}}`;
  // The lanes as in switchboard_claim_deliveries: an event's tested before the join, a job's after.
  const result = await db.execute(sql`
    select d.next_attempt_at as due
      from deliveries d left join jobs j on j.id = d.job_id
     where d.claimable
       and (d.subscription_id is null or d.subscription_id <> all (${full}::uuid[]))
       and (d.subscription_id is not null or j.user_id <> all (${full}::uuid[]))
     order by d.next_attempt_at
     limit 1`);
  const due = rowsOf(result)[0]?.due;
  return due ? readColumn.date(due) : null;
}
