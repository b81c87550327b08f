import type { Database } from '@switchboard/db';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import { parseDeliveryIdList, type UserId } from '../shared/ids.ts';
import { LiveFeed, parseIds } from '../shared/live-feed.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { Delivery } from './delivery-record.ts';
import { DeliveryStore } from './delivery-store.ts';
import type { SubscriptionsService } from './subscriptions-service.ts';

export interface DeliveryUpdateFilter {
  subscriptionId?: string | undefined;
  eventId?: string | undefined;
}

interface Listener {
  filter: DeliveryUpdateFilter;
  /** Null for admins, who see every delivery. */
  userId: UserId | null;
}

type Changed = { delivery: Delivery; ownerId: UserId };

/** A subscriber that reads slower than deliveries change keeps only the newest this many. */
const MAX_BUFFERED = 1000;

/**
 * Live delivery changes for graphql-ws. Workers in any process announce the ids they changed
 * (switchboard_delivery_updates); one listener per process reads those rows once and hands each
 * to the subscribers allowed to see it.
 */
export class DeliveryUpdates {
  private readonly feed: LiveFeed<Listener, Changed>;

  constructor(
    private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; subscriptions: SubscriptionsService },
  ) {
    const store = new DeliveryStore(deps.db);
    this.feed = new LiveFeed({
      pubsub: deps.pubsub,
      logger: deps.logger,
      name: 'delivery updates',
      channels: [
        {
          channel: CHANNELS.deliveryUpdates,
          changed: (payload) => store.withOwners(parseDeliveryIdList(parseIds(payload, 'number'))),
        },
      ],
      route: { accepts: reaches },
      buffer: MAX_BUFFERED,
    });
  }

  start(): Promise<void> {
    return this.feed.start();
  }

  stop(): Promise<void> {
    return this.feed.stop();
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
    const listener: Listener = { filter, userId: isAdmin(actor) ? null : actor.user.id };
    for await (const { delivery } of this.feed.follow(listener, signal)) yield delivery;
  }
}

/** Whether a changed delivery reaches a listener: it may see it, and the delivery matches its filter. */
function reaches(listener: Listener, { delivery, ownerId }: Changed): boolean {
  if (listener.userId && listener.userId !== ownerId) return false;
  if (listener.filter.subscriptionId && listener.filter.subscriptionId !== delivery.subscriptionId) return false;
  if (listener.filter.eventId && listener.filter.eventId !== delivery.eventId) return false;
  return true;
}
