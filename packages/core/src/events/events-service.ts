import type { Database } from '@switchboard/db';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import type { SubscriptionMatcher } from '../delivery/subscription-matcher.ts';
import type { SubscriptionsService } from '../delivery/subscriptions-service.ts';
import { enqueueEventDeliveries } from '../outbound/outbound-store.ts';
import type { Clock } from '../shared/clock.ts';
import { encodeKeysetCursor } from '../shared/cursor.ts';
import { type EventId, parseId, type SubscriptionId } from '../shared/ids.ts';
import { instantProblems } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { type EventRecord, toEventRecord } from './event-record.ts';
import { EventStore } from './event-store.ts';

export interface EventFilter {
  type?: string | undefined;
  status?: 'published' | 'cancelled' | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

export interface EventPage {
  /** Cursors from `eventCursor`; pages run newest first. */
  after?: string | undefined;
  before?: string | undefined;
  limit: number;
  inverted?: boolean;
}

/** A position in the newest-first order of events: creation time, then id. */
export function eventCursor(event: Pick<EventRecord, 'createdAt' | 'id'>): string {
  return encodeKeysetCursor({ at: event.createdAt, id: event.id });
}

/** Reading published events, and replaying one to the subscriptions that match it now. */
export class EventsService {
  private readonly store: EventStore;

  constructor(
    private readonly deps: {
      db: Database;
      clock: Clock;
      logger: Logger;
      matcher: SubscriptionMatcher;
      subscriptions: SubscriptionsService;
      onDeliveriesDue?: () => void;
    },
  ) {
    this.store = new EventStore(deps.db);
  }

  /** Admins see every event; others the events they published and those sent to their subscriptions. */
  async list(actor: Principal, filter: EventFilter, page: EventPage): Promise<Result<EventRecord[]>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', READ_SCOPES_NEEDED);
    const problems = instantProblems({ since: filter.since, until: filter.until });
    if (problems.length > 0) return fail('INVALID', 'The time range is not valid', { fields: problems });
    const listed = await this.store.list(actor, filter, page);
    if ('invalid' in listed) {
      return fail('INVALID', 'Not an event cursor', {
        fields: [{ path: listed.invalid, message: 'is not an event cursor' }],
      });
    }
    const { rows } = listed;
    return ok(rows.map((row) => toEventRecord(row)));
  }

  async get(actor: Principal, id: string): Promise<Result<EventRecord>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', READ_SCOPES_NEEDED);
    const row = await this.find(actor, id);
    return row ? ok(toEventRecord(row)) : fail('NOT_FOUND', 'No such event');
  }

  /**
   * Delivers an event again, as new deliveries (new webhook-ids: the receiver asked for it again).
   * To one subscription, by its owner or an admin; or to every subscription that matches it now,
   * by its publisher or an admin.
   */
  async replay(actor: Principal, eventId: string, subscriptionId?: string): Promise<Result<{ deliveryCount: number }>> {
    if (!hasScope(actor, 'subscriptions:write') && !hasScope(actor, 'events:publish')) {
      return fail('FORBIDDEN', 'Replaying events needs the events:publish or subscriptions:write scope');
    }
    const event = await this.find(actor, eventId);
    if (!event) return fail('NOT_FOUND', 'No such event');
    if (event.status === 'cancelled') return fail('CONFLICT', 'The event was cancelled; it is not delivered');
    let targets: SubscriptionId[];
    if (subscriptionId) {
      const subscription = await this.deps.subscriptions.find(actor, subscriptionId);
      if (!subscription) return fail('NOT_FOUND', 'No such subscription');
      if (!hasScope(actor, 'subscriptions:write')) return fail('FORBIDDEN', 'Needs the subscriptions:write scope');
      if (!subscription.enabled) return fail('CONFLICT', 'The subscription is disabled; enable it first');
      if (event.audienceUserId && event.audienceUserId !== subscription.userId && !isAdmin(actor)) {
        return fail('FORBIDDEN', 'This event is not for that subscription');
      }
      targets = [subscription.id];
    } else {
      if (!isAdmin(actor) && event.publisherId !== actor.user.id) {
        return fail('FORBIDDEN', 'Only its publisher or an admin can replay an event to every subscription');
      }
      const envelope = JSON.parse(event.body.toString('utf8'));
      const matched = await this.deps.matcher.match(event.type, envelope, { audienceUserId: event.audienceUserId });
      targets = matched.map((m) => m.id);
    }
    if (targets.length > 0) {
      await enqueueEventDeliveries(this.deps.db, event.id, targets, this.deps.clock.now());
      this.deps.onDeliveriesDue?.();
    }
    this.deps.logger.info({ eventId, deliveries: targets.length, by: actor.user.id }, 'event replayed');
    return ok({ deliveryCount: targets.length });
  }

  private async find(actor: Principal, rawId: string) {
    const id = parseId<EventId>(rawId);
    return id ? this.store.find(actor, id) : null;
  }
}

const READ_SCOPES_NEEDED = 'Reading events needs the events:publish or subscriptions:read scope';

/** Payloads are data like any other: a token for queues alone does not see them. */
function mayRead(actor: Principal): boolean {
  return (
    hasScope(actor, 'events:publish') || hasScope(actor, 'subscriptions:read') || hasScope(actor, 'subscriptions:write')
  );
}
