import { type Database, deliveries, events, subscriptions } from '@switchboard/db';
import { eq, inArray } from 'drizzle-orm';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { PushQueue } from '../shared/push-queue.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { type Delivery, deliveryColumns } from './delivery-record.ts';
import type { SubscriptionsService } from './subscriptions-service.ts';

export interface DeliveryUpdateFilter {
  subscriptionId?: string | undefined;
  eventId?: string | undefined;
}

interface Listener {
  filter: DeliveryUpdateFilter;
  /** Null for admins, who see every delivery. */
  userId: string | null;
  push(delivery: Delivery): void;
}

/** A subscriber that reads slower than deliveries change keeps only the newest this many. */
const MAX_BUFFERED = 1000;

/**
 * Live delivery changes for graphql-ws. Workers in any process announce the ids they changed
 * (switchboard_delivery_updates); one listener per process reads those rows once and hands each
 * to the subscribers allowed to see it.
 */
export class DeliveryUpdates {
  private listeners = new Set<Listener>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; subscriptions: SubscriptionsService },
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.deliveryUpdates, (payload) => {
      if (this.listeners.size === 0) return;
      let ids: number[];
      try {
        ids = (JSON.parse(payload) as unknown[]).map(Number).filter(Number.isSafeInteger);
      } catch {
        return;
      }
      this.dispatch(ids).catch((error) => this.deps.logger.warn({ err: error }, 'reading delivery updates failed'));
    });
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /** Checks the filter before the stream starts, so that a refusal is a plain error. */
  async open(actor: Principal, filter: DeliveryUpdateFilter): Promise<Result<DeliveryUpdateFilter>> {
    if (!hasScope(actor, 'subscriptions:read') && !hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Reading deliveries needs the subscriptions:read scope');
    }
    if (filter.subscriptionId && !(await this.deps.subscriptions.find(actor, filter.subscriptionId))) {
      return fail('NOT_FOUND', 'No such subscription');
    }
    return ok(filter);
  }

  /** Every change of a matching delivery from now on, until `signal` aborts. */
  async *follow(actor: Principal, filter: DeliveryUpdateFilter, signal: AbortSignal): AsyncGenerator<Delivery> {
    const queue = new PushQueue<Delivery>(MAX_BUFFERED);
    const listener: Listener = { filter, userId: isAdmin(actor) ? null : actor.user.id, push: queue.push };
    this.listeners.add(listener);
    try {
      yield* queue.drain(signal);
    } finally {
      this.listeners.delete(listener);
    }
  }

  private async dispatch(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const rows = await this.deps.db
      .select({ ...deliveryColumns, ownerId: subscriptions.userId })
      .from(deliveries)
      .innerJoin(subscriptions, eq(subscriptions.id, deliveries.subscriptionId))
      .leftJoin(events, eq(events.id, deliveries.eventId))
      .where(inArray(deliveries.id, ids));
    for (const { ownerId, ...delivery } of rows) {
      for (const listener of this.listeners) {
        if (listener.userId && listener.userId !== ownerId) continue;
        if (listener.filter.subscriptionId && listener.filter.subscriptionId !== delivery.subscriptionId) continue;
        if (listener.filter.eventId && listener.filter.eventId !== delivery.eventId) continue;
        listener.push(delivery);
      }
    }
  }
}
