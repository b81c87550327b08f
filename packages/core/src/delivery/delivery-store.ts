import type { Database } from '@switchboard/db';
import { type SQL, sql } from 'drizzle-orm';
import type { CompletionRecord, DeliveryTarget } from './delivery-attempt.ts';
import type { RetryPolicy } from './retry-policy.ts';
import type { Signing } from './subscription-definition.ts';

export interface ClaimedDelivery extends DeliveryTarget {
  /** The subscription's state when claimed: disabled ones are not sent. */
  enabled: boolean;
  rateLimitPerSecond: number | null;
}

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
 * Claims up to `limit` due deliveries in one statement. A claim is a lease: the row becomes
 * `delivering` with `next_attempt_at` moved to when the lease ends (the subscription's timeout plus
 * a margin). Rows locked by another worker are skipped, never waited for. A row claimed again after
 * its lease ran out gets an attempt recorded for the try that was lost.
 */
export async function claimDeliveries(
  db: Database,
  input: { now: Date; limit: number; leaseMarginMs: number; eventId?: string | undefined },
): Promise<ClaimedDelivery[]> {
  const now = input.now.toISOString();
  const scope: SQL = input.eventId ? sql`and event_id = ${input.eventId}::uuid` : sql``;
  const result = await db.execute(sql`
    with due as (
      select id, status as was from deliveries
      where status in ('pending', 'delivering') and next_attempt_at <= ${now}::timestamptz ${scope}
      order by next_attempt_at
      limit ${input.limit}
      for update skip locked
    ),
    lost as (
      insert into delivery_attempts (delivery_id, number, started_at, duration_ms, error, succeeded)
      select d.id, d.attempts, coalesce(d.leased_at, ${now}::timestamptz),
             greatest(0, extract(epoch from (${now}::timestamptz - coalesce(d.leased_at, ${now}::timestamptz))) * 1000)::int,
             'no outcome: the worker making this attempt stopped before it finished; the delivery is tried again',
             false
      from deliveries d join due on due.id = d.id
      where due.was = 'delivering'
    )
    update deliveries d
       set status = 'delivering',
           attempts = d.attempts + 1,
           leased_at = ${now}::timestamptz,
           first_attempt_at = coalesce(d.first_attempt_at, ${now}::timestamptz),
           next_attempt_at = ${now}::timestamptz + (s.timeout_ms + ${input.leaseMarginMs}) * interval '1 millisecond',
           updated_at = ${now}::timestamptz
      from due, subscriptions s, events e
     where d.id = due.id and s.id = d.subscription_id and e.id = d.event_id
    returning d.id, d.webhook_id, d.attempts, d.attempt_offset, d.first_attempt_at,
              e.id as event_id, e.type as event_type, e.body,
              s.id as subscription_id, s.url, s.headers, s.signing, s.secret, s.previous_secret,
              s.previous_secret_expires_at, s.timeout_ms, s.retry_policy, s.enabled, s.rate_limit_per_second
  `);
  return rowsOf(result).map((row) => ({
    deliveryId: Number(row.id),
    webhookId: String(row.webhook_id),
    attempt: Number(row.attempts),
    attemptOffset: Number(row.attempt_offset),
    firstAttemptAt: toDate(row.first_attempt_at),
    enabled: Boolean(row.enabled),
    rateLimitPerSecond: row.rate_limit_per_second === null ? null : Number(row.rate_limit_per_second),
    subscription: {
      id: String(row.subscription_id),
      url: String(row.url),
      headers: toJson<Record<string, string>>(row.headers),
      signing: toJson<Signing>(row.signing),
      secret: String(row.secret),
      previousSecret: (row.previous_secret as string | null) ?? null,
      previousSecretExpiresAt: row.previous_secret_expires_at ? toDate(row.previous_secret_expires_at) : null,
      timeoutMs: Number(row.timeout_ms),
      retryPolicy: toJson<RetryPolicy>(row.retry_policy),
    },
    event: { id: String(row.event_id), type: String(row.event_type), body: toBuffer(row.body) },
  }));
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

/** When the next delivery falls due, or null when none waits. */
export async function findNextDue(db: Database): Promise<Date | null> {
  const result = await db.execute(
    sql`select min(next_attempt_at) as due from deliveries where status in ('pending', 'delivering')`,
  );
  const due = rowsOf(result)[0]?.due;
  return due ? toDate(due) : null;
}
