import {
  type Database,
  type DeliveryStatus,
  deliveries,
  deliveryAttempts,
  events,
  subscriptions,
} from '@switchboard/db';
import { and, asc, desc, eq, gt, gte, inArray, isNotNull, lt, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { DeliveryId, EventId, JobId, SubscriptionId, UserId } from '../shared/ids.ts';
import {
  attemptColumns,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryStats,
  deliveryColumns,
} from './delivery-record.ts';

/** What a list of deliveries is narrowed by, its ids checked and branded (see DeliveriesService.list). */
export interface DeliveryListFilter {
  subscriptionId?: SubscriptionId | undefined;
  eventId?: EventId | undefined;
  status?: readonly DeliveryStatus[] | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** A page of a list of deliveries: ids are the cursors, newest first. */
export interface DeliveryListPage {
  after?: DeliveryId | undefined;
  before?: DeliveryId | undefined;
  limit: number;
  inverted?: boolean | undefined;
}

/**
 * What a claimed event delivery (the claim's row `c`) is sent with: its event and its
 * subscription as they are at the claim, read in the claim's own statement (see
 * OutboundKind.claimJoin). The columns are prefixed, as they sit beside the delivery's own.
 */
export const CLAIMED_EVENT_COLUMNS = sql`
  select e.body as ev_body, s.url as ev_url, s.headers as ev_headers, s.signing as ev_signing,
         s.secret as ev_secret, s.previous_secret as ev_previous_secret,
         s.previous_secret_expires_at as ev_previous_secret_expires_at, s.timeout_ms as ev_timeout_ms,
         s.retry_policy as ev_retry_policy, s.body_format as ev_body_format, s.enabled as ev_enabled,
         s.rate_limit_per_second as ev_rate_limit_per_second
    from events e join subscriptions s on s.id = c.subscription_id
   where c.kind = 'event' and e.id = c.event_id`;

/**
 * Event deliveries as their readers see them: each with its event and subscription, visible to
 * the subscription's owner and admins. The `deliveries` and `delivery_attempts` tables are written
 * only by the outbound engine's store (outbound/outbound-store.ts); this store only reads them.
 */
export class DeliveryStore {
  constructor(private readonly db: Database) {}

  /** The deliveries a caller may see: those of their own subscriptions, or everyone's for admins. */
  visibleTo(actor: Principal): SQL | undefined {
    return isAdmin(actor) ? undefined : eq(subscriptions.userId, actor.user.id);
  }

  /** Newest first; ids are the cursors. */
  async list(actor: Principal, filter: DeliveryListFilter, page: DeliveryListPage): Promise<Delivery[]> {
    const conditions: Array<SQL | undefined> = [this.visibleTo(actor)];
    if (filter.subscriptionId) conditions.push(eq(deliveries.subscriptionId, filter.subscriptionId));
    if (filter.eventId) conditions.push(eq(deliveries.eventId, filter.eventId));
    if (filter.status?.length) conditions.push(inArray(deliveries.status, [...filter.status]));
    if (filter.since) conditions.push(gte(deliveries.createdAt, filter.since));
    if (filter.until) conditions.push(lt(deliveries.createdAt, filter.until));
    if (page.after !== undefined) conditions.push(lt(deliveries.id, page.after));
    if (page.before !== undefined) conditions.push(gt(deliveries.id, page.before));
    return this.db
      .select(deliveryColumns)
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(and(...conditions))
      .orderBy(page.inverted ? asc(deliveries.id) : desc(deliveries.id))
      .limit(page.limit);
  }

  async find(actor: Principal, id: DeliveryId): Promise<Delivery | null> {
    const [row] = await this.db
      .select(deliveryColumns)
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(and(eq(deliveries.id, id), this.visibleTo(actor)));
    return row ?? null;
  }

  /** These deliveries, each with its subscription's owner, whoever reads them (for live updates). */
  async withOwners(ids: readonly DeliveryId[]): Promise<Array<{ delivery: Delivery; ownerId: UserId }>> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .select({ ...deliveryColumns, ownerId: subscriptions.userId })
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(inArray(deliveries.id, [...ids]));
    return rows.map(({ ownerId, ...delivery }) => ({ delivery, ownerId }));
  }

  /** The attempts of these deliveries, oldest first (any kind: a job's request's too). */
  async attemptsOf(ids: readonly DeliveryId[]): Promise<Map<DeliveryId, DeliveryAttempt[]>> {
    const map = new Map<DeliveryId, DeliveryAttempt[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return map;
    const rows = await this.db
      .select(attemptColumns)
      .from(deliveryAttempts)
      .where(inArray(deliveryAttempts.deliveryId, [...ids]))
      .orderBy(asc(deliveryAttempts.deliveryId), asc(deliveryAttempts.number), asc(deliveryAttempts.id));
    for (const row of rows) map.get(row.deliveryId)?.push(row);
    return map;
  }

  /** Deliveries by state, per subscription. */
  async statsOf(subscriptionIds: readonly SubscriptionId[]): Promise<Map<SubscriptionId, DeliveryStats>> {
    const empty = (): DeliveryStats => ({ pending: 0, delivering: 0, succeeded: 0, failed: 0, cancelled: 0 });
    const map = new Map<SubscriptionId, DeliveryStats>(subscriptionIds.map((id) => [id, empty()]));
    if (subscriptionIds.length === 0) return map;
    const rows = await this.db
      .select({
        subscriptionId: deliveries.subscriptionId,
        status: deliveries.status,
        count: sql<number>`count(*)::int`,
      })
      .from(deliveries)
      .where(inArray(deliveries.subscriptionId, [...subscriptionIds]))
      .groupBy(deliveries.subscriptionId, deliveries.status);
    for (const row of rows) {
      const stats = row.subscriptionId ? map.get(row.subscriptionId) : undefined;
      if (stats && row.status in stats) stats[row.status] = Number(row.count);
    }
    return map;
  }

  /** Each job's own request, by job (for reading the job's attempts). */
  async jobRequests(jobIds: readonly JobId[]): Promise<Array<{ id: DeliveryId; jobId: JobId | null }>> {
    if (jobIds.length === 0) return [];
    return this.db
      .select({ id: deliveries.id, jobId: deliveries.jobId })
      .from(deliveries)
      .where(and(inArray(deliveries.jobId, [...jobIds]), eq(deliveries.kind, 'job')));
  }

  /** The jobs these deliveries (requests or callbacks) belong to. */
  async jobsOf(ids: readonly DeliveryId[]): Promise<JobId[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectDistinct({ jobId: deliveries.jobId })
      .from(deliveries)
      .where(and(inArray(deliveries.id, [...ids]), isNotNull(deliveries.jobId)));
    return rows.flatMap((row) => (row.jobId === null ? [] : [row.jobId]));
  }
}
