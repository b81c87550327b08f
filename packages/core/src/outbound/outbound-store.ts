import type { Database } from '@switchboard/db';
import { sql } from 'drizzle-orm';
import type { BodyFormat } from './body-format.ts';
import { type CompletionRecord, type DeliveryTarget, planForSubscription } from './delivery-attempt.ts';
import type { RetryPolicy } from './retry-policy.ts';
import type { Signing } from './subscription-definition.ts';

export interface ClaimedDelivery extends DeliveryTarget {
  /** Whether to send it: its subscription is enabled, its job not cancelled. */
  enabled: boolean;
  rateLimitPerSecond: number | null;
  /**
   * Whose share of the worker it takes: an event's delivery its subscription's, a job's request
   * and callback their owner's (the user id).
   */
  lane: string;
  /** The lane's own cap on requests in flight; null: the worker's default. */
  maxInFlight: number | null;
  /** For a job's request or callback: what the callback reports. */
  job?: ClaimedJob;
}

export interface ClaimedJob {
  id: string;
  state: string;
  url: string;
  method: string;
  callbackUrl: string | null;
}

/** A callback is sent within this, and retried on the job's callback policy. */
export const CALLBACK_TIMEOUT_MS = 15_000;

type Row = Record<string, unknown>;

/** postgres.js answers with the rows, PGlite with `{ rows }`. */
export function rowsOf(result: unknown): Row[] {
  return (Array.isArray(result) ? result : (result as { rows: Row[] }).rows) as Row[];
}

const toDate = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));
const toBuffer = (value: unknown) =>
  Buffer.isBuffer(value)
    ? value
    : Buffer.from((value as Uint8Array).buffer, (value as Uint8Array).byteOffset, (value as Uint8Array).byteLength);
const toJson = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/**
 * Claims up to `limit` due deliveries in one statement (`switchboard_claim_deliveries`, see the
 * migrations). A claim is a lease: the row becomes `delivering` with `next_attempt_at` moved to
 * when the lease ends (the subscription's timeout plus a margin). Rows locked by another worker are
 * skipped, never waited for. A row claimed again after its lease ran out gets an attempt recorded
 * for the try that was lost.
 */
export async function claimDeliveries(
  db: Database,
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
  return rowsOf(result).map(toClaimed);
}

function toClaimed(row: Row): ClaimedDelivery {
  const kind = String(row.kind) as ClaimedDelivery['kind'];
  const common = {
    deliveryId: Number(row.id),
    kind,
    webhookId: String(row.webhook_id),
    attempt: Number(row.attempts),
    attemptOffset: Number(row.attempt_offset),
    firstAttemptAt: toDate(row.first_attempt_at),
    subscriptionId: (row.subscription_id as string | null) ?? null,
    jobId: (row.job_id as string | null) ?? null,
    lane: String(row.lane),
    maxInFlight: row.max_in_flight === null || row.max_in_flight === undefined ? null : Number(row.max_in_flight),
  };
  if (kind === 'event') {
    const subscription = {
      id: String(row.subscription_id),
      url: String(row.url),
      headers: toJson<Record<string, string>>(row.headers),
      signing: toJson<Signing>(row.signing),
      secret: String(row.secret),
      previousSecret: (row.previous_secret as string | null) ?? null,
      previousSecretExpiresAt: row.previous_secret_expires_at ? toDate(row.previous_secret_expires_at) : null,
      timeoutMs: Number(row.timeout_ms),
      retryPolicy: toJson<RetryPolicy>(row.retry_policy),
      bodyFormat: String(row.body_format) as BodyFormat,
    };
    return {
      ...common,
      enabled: Boolean(row.enabled),
      rateLimitPerSecond: row.rate_limit_per_second === null ? null : Number(row.rate_limit_per_second),
      plan: planForSubscription(subscription, { id: String(row.event_id), body: toBuffer(row.event_body) }),
    };
  }
  const job: ClaimedJob = {
    id: String(row.job_id),
    state: String(row.job_state),
    url: String(row.job_url),
    method: String(row.job_method),
    callbackUrl: (row.job_callback_url as string | null) ?? null,
  };
  if (kind === 'job') {
    return {
      ...common,
      job,
      enabled: job.state !== 'cancelled',
      rateLimitPerSecond: null,
      plan: {
        url: job.url,
        method: job.method,
        headers: toJson<Record<string, string>>(row.job_headers),
        body: row.job_body ? toBuffer(row.job_body) : null,
        signing: null,
        timeoutMs: Number(row.job_timeout_ms),
        retryPolicy: toJson<RetryPolicy>(row.job_retry_policy),
        acceptedStatuses: (row.job_accepted_statuses as number[] | null) ?? null,
      },
    };
  }
  return {
    ...common,
    job,
    enabled: true,
    rateLimitPerSecond: null,
    plan: {
      url: String(row.job_callback_url),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: toBuffer(row.delivery_body),
      signing: {
        signing: { scheme: 'standard-webhooks' },
        secret: String(row.owner_secret),
        previousSecret: null,
        previousSecretExpiresAt: null,
      },
      timeoutMs: CALLBACK_TIMEOUT_MS,
      retryPolicy: toJson<RetryPolicy>(row.job_callback_retry_policy),
      acceptedStatuses: null,
    },
  };
}

/** Records a batch of outcomes; resolves to the subscriptions it disabled. */
export async function completeDeliveries(
  db: Database,
  now: Date,
  records: CompletionRecord[],
): Promise<Array<{ subscriptionId: string; reason: string }>> {
  const result = await db.execute(
    sql`select out_subscription_id, out_reason from switchboard_complete_deliveries(${now.toISOString()}::timestamptz, ${JSON.stringify(records)}::jsonb)`,
  );
  return rowsOf(result).map((row) => ({
    subscriptionId: String(row.out_subscription_id),
    reason: String(row.out_reason),
  }));
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
  return due ? toDate(due) : null;
}
