import type { Database, DeliveryStatus } from '@switchboard/db';
import { hasScope, type Principal } from '../access/principal.ts';
import { announceDeliveryUpdates } from '../outbound/completion-writer.ts';
import { requeueDeliveries } from '../outbound/outbound-store.ts';
import type { Clock } from '../shared/clock.ts';
import {
  type DeliveryId,
  type EventId,
  type JobId,
  parseDeliveryId,
  parseId,
  type SubscriptionId,
} from '../shared/ids.ts';
import { INSTANT_RANGE_PROBLEM, instantProblems, isStorableInstant } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import type { PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { Delivery, DeliveryAttempt, DeliveryStats } from './delivery-record.ts';
import { DeliveryStore } from './delivery-store.ts';
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
  private readonly store: DeliveryStore;

  constructor(private readonly deps: DeliveriesServiceDeps) {
    this.store = new DeliveryStore(deps.db);
  }

  /** Newest first. Members see the deliveries of their own subscriptions; admins everyone's. */
  async list(actor: Principal, filter: DeliveryFilter, page: DeliveryPage): Promise<Result<Delivery[]>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading deliveries needs the subscriptions:read scope');
    // A malformed id matches nothing; in a uuid column it would be a database error instead.
    const subscriptionId = filter.subscriptionId ? parseId<SubscriptionId>(filter.subscriptionId) : undefined;
    const eventId = filter.eventId ? parseId<EventId>(filter.eventId) : undefined;
    if (subscriptionId === null || eventId === null) return ok([]);
    const problems = instantProblems({ since: filter.since, until: filter.until });
    if (problems.length > 0) return fail('INVALID', 'The time range is not valid', { fields: problems });
    const after = page.after === undefined ? undefined : parseDeliveryId(page.after);
    const before = page.before === undefined ? undefined : parseDeliveryId(page.before);
    if (after === null || before === null) {
      const path = after === null ? 'after' : 'before';
      return fail('INVALID', 'Not a delivery cursor', { fields: [{ path, message: 'is not a delivery id' }] });
    }
    const rows = await this.store.list(
      actor,
      { ...filter, subscriptionId, eventId },
      { limit: page.limit, inverted: page.inverted, after, before },
    );
    return ok(rows);
  }

  async get(actor: Principal, rawId: number): Promise<Result<Delivery>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading deliveries needs the subscriptions:read scope');
    const id = parseDeliveryId(rawId);
    const found = id === null ? null : await this.find(actor, id);
    return found ? ok(found) : fail('NOT_FOUND', 'No such delivery');
  }

  /** Each job's request's attempts, by job (for jobs the caller has already been allowed to see). */
  async attemptsOfJobs(jobIds: readonly JobId[]): Promise<Map<JobId, DeliveryAttempt[]>> {
    const map = new Map<JobId, DeliveryAttempt[]>(jobIds.map((id) => [id, []]));
    const requests = await this.store.jobRequests(jobIds);
    const attempts = await this.store.attemptsOf(requests.map((r) => r.id));
    for (const request of requests) {
      if (request.jobId) map.set(request.jobId, attempts.get(request.id) ?? []);
    }
    return map;
  }

  /** The attempts of deliveries the caller has already been allowed to see, oldest first. */
  attemptsOf(ids: readonly DeliveryId[]): Promise<Map<DeliveryId, DeliveryAttempt[]>> {
    return this.store.attemptsOf(ids);
  }

  /** Deliveries by state, per subscription the caller may already see. */
  statsOf(subscriptionIds: readonly SubscriptionId[]): Promise<Map<SubscriptionId, DeliveryStats>> {
    return this.store.statsOf(subscriptionIds);
  }

  /**
   * Sends a delivery again now, whatever became of it; if that fails it follows its retry policy
   * from the start. Not while an attempt is under way, and not to a disabled subscription.
   */
  async retry(actor: Principal, rawId: number): Promise<Result<Delivery>> {
    if (!hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Retrying deliveries needs the subscriptions:write scope');
    }
    const id = parseDeliveryId(rawId);
    const found = id === null ? null : await this.find(actor, id);
    if (!found) return fail('NOT_FOUND', 'No such delivery');
    if (found.status === 'delivering') return fail('CONFLICT', 'The delivery is being attempted right now');
    const subscription = found.subscriptionId ? await this.deps.subscriptions.find(actor, found.subscriptionId) : null;
    if (!subscription?.enabled) return fail('CONFLICT', 'The subscription is disabled; enable it first');
    const changed = await this.requeue({ id: found.id });
    if (changed === 0) return fail('CONFLICT', 'The delivery is being attempted right now');
    return this.get(actor, found.id);
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
    const count = await this.requeue({ subscriptionId: subscription.id, failedSince: since });
    this.deps.logger.info({ subscriptionId, since, count, by: actor.user.id }, 'failed deliveries recovered');
    return ok({ count });
  }

  private async requeue(which: Parameters<typeof requeueDeliveries>[1]): Promise<number> {
    const ids = await requeueDeliveries(this.deps.db, which, this.deps.clock.now());
    if (ids.length > 0) {
      await announceDeliveryUpdates(this.deps.pubsub, ids);
      this.deps.onDeliveriesDue?.();
    }
    return ids.length;
  }

  private find(actor: Principal, id: DeliveryId): Promise<Delivery | null> {
    return this.store.find(actor, id);
  }
}

function mayRead(actor: Principal): boolean {
  return hasScope(actor, 'subscriptions:read') || hasScope(actor, 'subscriptions:write');
}
