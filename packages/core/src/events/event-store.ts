import { type Database, deliveries, events, subscriptions } from '@switchboard/db';
import { and, desc, eq, exists, gte, lt, or, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import {
  enqueueEventDeliveries,
  insertAttemptedDelivery,
  insertEventDeliveriesSql,
} from '../outbound/outbound-store.ts';
import type { AttemptOutcome } from '../outbound/outcome.ts';
import { keysetConditions } from '../shared/cursor.ts';
import { rowsOf } from '../shared/db-rows.ts';
import type { DeliveryId, EventId, SubscriptionId, UserId } from '../shared/ids.ts';
import { eventColumns } from './event-record.ts';

export interface NewEvent {
  id: EventId;
  type: string;
  body: Buffer;
  publisherId: UserId | null;
  idempotencyKey: string | null;
  contentHash: string;
  status: 'published' | 'cancelled';
  cancelReason: string | null;
  audienceUserId: UserId | null;
  targetSubscriptionId: SubscriptionId | null;
  createdAt: Date;
}

/** A blocking subscription's delivery, already attempted once while the publisher waited. */
export interface AttemptedDelivery {
  subscriptionId: SubscriptionId;
  webhookId: string;
  outcome: AttemptOutcome;
}

/** A delivery to write: due now, or (with `leaseUntil`) already claimed by this process's worker. */
export interface NewDelivery {
  subscriptionId: SubscriptionId;
  leaseUntil?: Date;
}

export interface InsertedEvent {
  /** False when the publisher's idempotency key was taken: nothing was written. */
  inserted: boolean;
  /** The deliveries written already leased, for this process's worker to send. */
  leased: Array<{ id: DeliveryId; webhookId: string; subscriptionId: SubscriptionId }>;
}

/**
 * Writes an event with all its deliveries, atomically. Without blocking deliveries this is one
 * statement, one round trip: the common path of a publish.
 */
async function insertEvent(
  db: Database,
  event: NewEvent,
  targets: readonly NewDelivery[],
  attempted: readonly AttemptedDelivery[] = [],
): Promise<InsertedEvent> {
  if (attempted.length === 0) {
    const at = event.createdAt.toISOString();
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
      d as (${insertEventDeliveriesSql(sql.raw('e'), at, targets)}
      )
      select e.id as event_id, d.id, d.webhook_id, d.subscription_id
      from e left join d on d.status = 'delivering'`);
    const returned = rowsOf(result);
    return {
      inserted: returned.length > 0,
      leased: returned
        .filter((r) => r.id !== null && r.id !== undefined)
        .map((r) => ({
          id: Number(r.id) as DeliveryId,
          webhookId: String(r.webhook_id),
          subscriptionId: String(r.subscription_id) as SubscriptionId,
        })),
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
    for (const { subscriptionId, webhookId, outcome } of attempted) {
      await insertAttemptedDelivery(tx, { webhookId, eventId: event.id, subscriptionId }, outcome, now);
    }
    await enqueueEventDeliveries(
      tx,
      event.id,
      targets.map((t) => t.subscriptionId),
      now,
    );
    return { inserted: true, leased: [] };
  });
}

export interface EventListFilter {
  type?: string | undefined;
  status?: 'published' | 'cancelled' | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** The `events` table's one owner. */
export class EventStore {
  constructor(private readonly db: Database) {}

  /** See insertEvent. */
  insert(event: NewEvent, targets: readonly NewDelivery[], attempted: readonly AttemptedDelivery[] = []) {
    return insertEvent(this.db, event, targets, attempted);
  }

  /**
   * The events a caller may see: every one for admins; otherwise those they published and those
   * sent to one of their subscriptions.
   */
  visibleTo(actor: Principal): SQL | undefined {
    if (isAdmin(actor)) return undefined;
    const toOwnSubscription = this.db
      .select({ one: sql`1` })
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .where(and(eq(deliveries.eventId, events.id), eq(subscriptions.userId, actor.user.id)));
    return or(eq(events.publisherId, actor.user.id), exists(toOwnSubscription));
  }

  async find(actor: Principal, id: EventId) {
    const [row] = await this.db
      .select(eventColumns)
      .from(events)
      .where(and(eq(events.id, id), this.visibleTo(actor)));
    return row ?? null;
  }

  /** Newest first, in keyset pages; `invalid` names a cursor this store did not write. */
  async list(
    actor: Principal,
    filter: EventListFilter,
    page: { after?: string | undefined; before?: string | undefined; limit: number; inverted?: boolean | undefined },
  ) {
    const keyset = keysetConditions({ at: events.createdAt, id: events.id }, page);
    if ('invalid' in keyset) return keyset;
    const conditions = [this.visibleTo(actor), ...keyset.conditions];
    if (filter.type) conditions.push(eq(events.type, filter.type));
    if (filter.status) conditions.push(eq(events.status, filter.status));
    if (filter.since) conditions.push(gte(events.createdAt, filter.since));
    if (filter.until) conditions.push(lt(events.createdAt, filter.until));
    const order = page.inverted
      ? [sql`${events.createdAt} asc`, sql`${events.id} asc`]
      : [sql`${events.createdAt} desc`, desc(events.id)];
    const rows = await this.db
      .select(eventColumns)
      .from(events)
      .where(and(...conditions))
      .orderBy(...order)
      .limit(page.limit);
    return { rows };
  }

  /** The event a publisher stored under an idempotency key, with its content hash. */
  async findByKey(publisherId: UserId, key: string) {
    const [row] = await this.db
      .select({ ...eventColumns, contentHash: events.contentHash })
      .from(events)
      .where(and(eq(events.publisherId, publisherId), eq(events.idempotencyKey, key)));
    return row ?? null;
  }
}
