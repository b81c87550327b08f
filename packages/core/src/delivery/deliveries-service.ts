import {
  type Database,
  type DeliveryStatus,
  deliveries,
  deliveryAttempts,
  events,
  subscriptions,
} from '@switchboard/db';
import { and, asc, desc, eq, gt, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import { announceDeliveryUpdates } from '../outbound/completion-writer.ts';
import type { Clock } from '../shared/clock.ts';
import { isUuid } from '../shared/crypto.ts';
import { INSTANT_RANGE_PROBLEM, instantProblems, isStorableInstant } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import type { PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import {
  attemptColumns,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryStats,
  deliveryColumns,
} from './delivery-record.ts';
import type { SubscriptionsService } from './subscriptions-service.ts';

export * from './delivery-record.ts';

export interface DeliveryFilter {
  subscriptionId?: string | undefined;
  eventId?: string | undefined;
  status?: readonly DeliveryStatus[] | undefined;
  /** Created at or after. */
  since?: Date | undefined;
  /** Created before. */
  until?: Date | undefined;
}

export interface DeliveryPage {
  /** Ids are cursors; pages run newest first. */
  after?: number | undefined;
  before?: number | undefined;
  limit: number;
  inverted?: boolean;
}

export interface DeliveriesServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  subscriptions: SubscriptionsService;
  onDeliveriesDue?: () => void;
}

/** Reading deliveries and their attempts, and sending failed ones again. */
export class DeliveriesService {
  constructor(private readonly deps: DeliveriesServiceDeps) {}

  /** Newest first. Members see the deliveries of their own subscriptions; admins everyone's. */
  async list(actor: Principal, filter: DeliveryFilter, page: DeliveryPage): Promise<Result<Delivery[]>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading deliveries needs the subscriptions:read scope');
    // A malformed id matches nothing; in a uuid column it would be a database error instead.
    for (const id of [filter.subscriptionId, filter.eventId]) if (id && !isUuid(id)) return ok([]);
    const problems = instantProblems({ since: filter.since, until: filter.until });
    if (problems.length > 0) return fail('INVALID', 'The time range is not valid', { fields: problems });
    const conditions: SQL[] = [];
    if (!isAdmin(actor)) conditions.push(eq(subscriptions.userId, actor.user.id));
    if (filter.subscriptionId) conditions.push(eq(deliveries.subscriptionId, filter.subscriptionId));
    if (filter.eventId) conditions.push(eq(deliveries.eventId, filter.eventId));
    if (filter.status?.length) conditions.push(inArray(deliveries.status, [...filter.status]));
    if (filter.since) conditions.push(gte(deliveries.createdAt, filter.since));
    if (filter.until) conditions.push(lt(deliveries.createdAt, filter.until));
    if (page.after !== undefined) conditions.push(lt(deliveries.id, page.after));
    if (page.before !== undefined) conditions.push(gt(deliveries.id, page.before));
    const rows = await this.deps.db
      .select(deliveryColumns)
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(and(...conditions))
      .orderBy(page.inverted ? asc(deliveries.id) : desc(deliveries.id))
      .limit(page.limit);
    return ok(rows);
  }

  async get(actor: Principal, id: number): Promise<Result<Delivery>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading deliveries needs the subscriptions:read scope');
    const found = await this.find(actor, id);
    return found ? ok(found) : fail('NOT_FOUND', 'No such delivery');
  }

  /** The attempts of deliveries the caller has already been allowed to see, oldest first. */
  async attemptsOf(ids: readonly number[]): Promise<Map<number, DeliveryAttempt[]>> {
    const map = new Map<number, DeliveryAttempt[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return map;
    const rows = await this.deps.db
      .select(attemptColumns)
      .from(deliveryAttempts)
      .where(inArray(deliveryAttempts.deliveryId, [...ids]))
      .orderBy(asc(deliveryAttempts.deliveryId), asc(deliveryAttempts.number), asc(deliveryAttempts.id));
    for (const row of rows) map.get(row.deliveryId)?.push(row);
    return map;
  }

  /** Deliveries by state, per subscription the caller may already see. */
  async statsOf(subscriptionIds: readonly string[]): Promise<Map<string, DeliveryStats>> {
    const empty = (): DeliveryStats => ({ pending: 0, delivering: 0, succeeded: 0, failed: 0, cancelled: 0 });
    const map = new Map<string, DeliveryStats>(subscriptionIds.map((id) => [id, empty()]));
    if (subscriptionIds.length === 0) return map;
    const rows = await this.deps.db
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

  /**
   * Sends a delivery again now, whatever became of it; if that fails it follows its retry policy
   * from the start. Not while an attempt is under way, and not to a disabled subscription.
   */
  async retry(actor: Principal, id: number): Promise<Result<Delivery>> {
    if (!hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Retrying deliveries needs the subscriptions:write scope');
    }
    const found = await this.find(actor, id);
    if (!found) return fail('NOT_FOUND', 'No such delivery');
    if (found.status === 'delivering') return fail('CONFLICT', 'The delivery is being attempted right now');
    const subscription = found.subscriptionId ? await this.deps.subscriptions.find(actor, found.subscriptionId) : null;
    if (!subscription?.enabled) return fail('CONFLICT', 'The subscription is disabled; enable it first');
    const changed = await this.requeue(and(eq(deliveries.id, id), sql`${deliveries.status} <> 'delivering'`));
    if (changed === 0) return fail('CONFLICT', 'The delivery is being attempted right now');
    return this.get(actor, id);
  }

  /** Sends again every failed delivery of a subscription created since a time; answers how many. */
  async recover(actor: Principal, subscriptionId: string, since: Date): Promise<Result<{ count: number }>> {
    if (!hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Recovering deliveries needs the subscriptions:write scope');
    }
    const subscription = await this.deps.subscriptions.find(actor, subscriptionId);
    if (!subscription) return fail('NOT_FOUND', 'No such subscription');
    if (!subscription.enabled) return fail('CONFLICT', 'The subscription is disabled; enable it first');
    if (!isStorableInstant(since)) {
      return fail('INVALID', 'since is not a time Switchboard can hold', {
        fields: [{ path: 'since', message: INSTANT_RANGE_PROBLEM }],
      });
    }
    const count = await this.requeue(
      and(
        eq(deliveries.subscriptionId, subscriptionId),
        eq(deliveries.status, 'failed'),
        gte(deliveries.createdAt, since),
      ),
    );
    this.deps.logger.info({ subscriptionId, since, count, by: actor.user.id }, 'failed deliveries recovered');
    return ok({ count });
  }

  private async requeue(where: SQL | undefined): Promise<number> {
    const now = this.deps.clock.now();
    const rows = await this.deps.db
      .update(deliveries)
      .set({
        status: 'pending',
        nextAttemptAt: now,
        attemptOffset: sql`${deliveries.attempts}`,
        firstAttemptAt: null,
        completedAt: null,
        updatedAt: now,
      })
      .where(where)
      .returning({ id: deliveries.id });
    if (rows.length > 0) {
      await announceDeliveryUpdates(
        this.deps.pubsub,
        rows.map((r) => r.id),
      );
      this.deps.onDeliveriesDue?.();
    }
    return rows.length;
  }

  private async find(actor: Principal, id: number): Promise<Delivery | null> {
    if (!Number.isSafeInteger(id) || id <= 0) return null;
    const [row] = await this.deps.db
      .select(deliveryColumns)
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(
        isAdmin(actor) ? eq(deliveries.id, id) : and(eq(deliveries.id, id), eq(subscriptions.userId, actor.user.id)),
      );
    return row ?? null;
  }
}

function mayRead(actor: Principal): boolean {
  return hasScope(actor, 'subscriptions:read') || hasScope(actor, 'subscriptions:write');
}
