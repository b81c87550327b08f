import { type Database, deliveries, deliveryAttempts, events } from '@switchboard/db';
import { sql } from 'drizzle-orm';
import type { AttemptOutcome } from '../outbound/outcome.ts';
import { rowsOf } from '../shared/db-rows.ts';

export interface NewEvent {
  id: string;
  type: string;
  body: Buffer;
  publisherId: string | null;
  idempotencyKey: string | null;
  contentHash: string;
  status: 'published' | 'cancelled';
  cancelReason: string | null;
  audienceUserId: string | null;
  targetSubscriptionId: string | null;
  createdAt: Date;
}

/** A blocking subscription's delivery, already attempted once while the publisher waited. */
export interface AttemptedDelivery {
  subscriptionId: string;
  webhookId: string;
  outcome: AttemptOutcome;
}

/** A delivery to write: due now, or (with `leaseUntil`) already claimed by this process's worker. */
export interface NewDelivery {
  subscriptionId: string;
  leaseUntil?: Date;
}

export interface InsertedEvent {
  /** False when the publisher's idempotency key was taken: nothing was written. */
  inserted: boolean;
  /** The deliveries written already leased, for this process's worker to send. */
  leased: Array<{ id: number; webhookId: string; subscriptionId: string }>;
}

/**
 * Writes an event with all its deliveries, atomically. Without blocking deliveries this is one
 * statement, one round trip: the common path of a publish.
 */
export async function insertEvent(
  db: Database,
  event: NewEvent,
  targets: readonly NewDelivery[],
  attempted: readonly AttemptedDelivery[] = [],
): Promise<InsertedEvent> {
  if (attempted.length === 0) {
    const at = event.createdAt.toISOString();
    const rows = targets.map((t) => ({ s: t.subscriptionId, l: t.leaseUntil?.toISOString() ?? null }));
    const result = await db.execute(sql`
      with e as (
        insert into events (id, type, body, publisher_id, idempotency_key, content_hash, status, cancel_reason,
                            audience_user_id, target_subscription_id, created_at)
        values (${event.id}::uuid, ${event.type}, decode(${event.body.toString('base64')}, 'base64'),
                ${event.publisherId}::uuid, ${event.idempotencyKey}, ${event.contentHash}, ${event.status},
                ${event.cancelReason}, ${event.audienceUserId}::uuid, ${event.targetSubscriptionId}::uuid, ${at}::timestamptz)
        on conflict (publisher_id, idempotency_key) where idempotency_key is not null do nothing
        returning id
      ),
      d as (
        insert into deliveries (event_id, subscription_id, status, attempts, leased_at, first_attempt_at,
                                next_attempt_at, created_at, updated_at)
        select e.id, t.s::uuid,
               case when t.l is null then 'pending' else 'delivering' end,
               case when t.l is null then 0 else 1 end,
               case when t.l is null then null else ${at}::timestamptz end,
               case when t.l is null then null else ${at}::timestamptz end,
               coalesce(t.l::timestamptz, ${at}::timestamptz), ${at}::timestamptz, ${at}::timestamptz
        from e, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as t(s text, l text)
        -- The matcher's snapshot may hold a subscription deleted a moment ago: it gets nothing.
        where exists (select 1 from subscriptions s where s.id = t.s::uuid)
        returning id, webhook_id, subscription_id, status
      )
      select e.id as event_id, d.id, d.webhook_id, d.subscription_id
      from e left join d on d.status = 'delivering'`);
    const returned = rowsOf(result);
    return {
      inserted: returned.length > 0,
      leased: returned
        .filter((r) => r.id !== null && r.id !== undefined)
        .map((r) => ({ id: Number(r.id), webhookId: String(r.webhook_id), subscriptionId: String(r.subscription_id) })),
    };
  }
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(events)
      .values(event)
      .onConflictDoNothing({
        target: [events.publisherId, events.idempotencyKey],
        where: sql`${events.idempotencyKey} is not null`,
      })
      .returning({ id: events.id });
    if (inserted.length === 0) return { inserted: false, leased: [] };
    const now = event.createdAt;
    for (const { subscriptionId, webhookId, outcome: o } of attempted) {
      const [row] = await tx
        .insert(deliveries)
        .values({
          webhookId,
          eventId: event.id,
          subscriptionId,
          status: o.status,
          attempts: 1,
          leasedAt: now,
          firstAttemptAt: now,
          lastAttemptAt: now,
          nextAttemptAt: o.nextAttemptAt,
          lastStatusCode: o.response?.status ?? null,
          lastError: o.error,
          completedAt: o.status === 'pending' ? null : now,
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: deliveries.id });
      await tx.insert(deliveryAttempts).values({
        deliveryId: (row as { id: number }).id,
        number: 1,
        startedAt: now,
        durationMs: o.durationMs,
        statusCode: o.response?.status ?? null,
        responseHeaders: o.response?.headers ?? null,
        responseBody: o.response?.body ?? null,
        responseTruncated: o.response?.truncated ?? false,
        error: o.error,
        succeeded: o.succeeded,
      });
    }
    if (targets.length > 0) {
      await tx.execute(sql`
        insert into deliveries (event_id, subscription_id, next_attempt_at, created_at, updated_at)
        select ${event.id}::uuid, s::uuid, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz,
               ${now.toISOString()}::timestamptz
        from jsonb_array_elements_text(${JSON.stringify(targets.map((t) => t.subscriptionId))}::jsonb) as s
        where exists (select 1 from subscriptions x where x.id = s::uuid)`);
    }
    return { inserted: true, leased: [] };
  });
}
