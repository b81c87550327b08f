import { randomUUID } from 'node:crypto';
import type { Database } from '@switchboard/db';
import { hasScope, type Principal } from '../access/principal.ts';
import {
  blockingAttemptTarget,
  leasedEventDelivery,
  readCancelReason,
  settleEventOutcome,
} from '../delivery/event-delivery.ts';
import type { MatchCandidate, MatchScope, SubscriptionMatcher } from '../delivery/subscription-matcher.ts';
import type { SubscriptionsService } from '../delivery/subscriptions-service.ts';
import { performAttempt } from '../outbound/attempt.ts';
import type { HttpSender } from '../outbound/http-sender.ts';
import type { ClaimedDelivery } from '../outbound/kind.ts';
import type { AttemptOutcome } from '../outbound/outcome.ts';
import type { Clock } from '../shared/clock.ts';
import { unlessDatabaseUnavailable } from '../shared/db-unavailable.ts';
import { type EventId, newId, type SubscriptionId, type UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { hashContent, isSerializable, SYSTEM_EVENT_TYPES } from './event-content.ts';
import { buildEnvelope, type EventRecord, toEventRecord } from './event-record.ts';
import { EventStore, type NewEvent } from './event-store.ts';
import { type EventTypesService, isEventTypeName } from './event-types-service.ts';
import { describeHookMode, modeOfPhase, splitHookPhase } from './hook-phase.ts';

export interface PublishInput {
  /** An event type; servo-webhooks' `after:x` reaches only async subscriptions, `before:x` only blocking ones. */
  type: string;
  payload: unknown;
  /** The first event published with this key is returned again instead of a second one. */
  idempotencyKey?: string | null;
  /** Use the content (type and payload) as the idempotency key. */
  dedupeByContent?: boolean;
  /** Deliver to blocking subscriptions first and wait for them: any of them may cancel the event. */
  wait?: boolean;
}

export interface BlockingResult {
  subscriptionId: SubscriptionId;
  succeeded: boolean;
  statusCode: number | null;
  error: string | null;
}

export interface PublishOutcome {
  event: EventRecord;
  /** True when an earlier event with the same key was returned. */
  duplicate: boolean;
  /** Deliveries written for this event (0 for a duplicate). */
  deliveryCount: number;
  cancellation: { reason: string; subscriptionId: SubscriptionId } | null;
  blocking: BlockingResult[];
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export interface EventPublisherDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  eventTypes: EventTypesService;
  matcher: SubscriptionMatcher;
  subscriptions: SubscriptionsService;
  sender: HttpSender;
  /** Deliveries were written: wake this process's worker. */
  onDeliveriesDue?: () => void;
  /** This process's worker, when it runs: deliveries it has room for are leased to it at once. */
  localWorker?: () => LocalWorker | undefined;
}

export interface LocalWorker {
  room: number;
  /** Room for this subscription's deliveries within its share of the worker. */
  roomFor(subscriptionId: string, maxInFlight: number | null): number;
  leaseMargin: number;
  adopt(deliveries: readonly ClaimedDelivery[]): void;
}

/**
 * Publishing: the payload is checked against its type, matched against the subscriptions, and
 * the event is written with all its deliveries in one transaction, so that an event is either
 * owed to every matching subscription or not stored at all.
 */
export class EventPublisher {
  /** Idempotent publishes under way in this process, by publisher and key: one at a time each. */
  private readonly keyed = new Map<string, Promise<void>>();

  private readonly eventStore: EventStore;

  constructor(private readonly deps: EventPublisherDeps) {
    this.eventStore = new EventStore(deps.db);
  }

  /**
   * A database that cannot be reached gives UNAVAILABLE (nothing was acknowledged; publishing
   * again, with the same Idempotency-Key, is safe), never an exception.
   */
  async publish(actor: Principal, input: PublishInput): Promise<Result<PublishOutcome>> {
    const phased = withPhase(input);
    const denied = this.checkPublisher(actor, phased.input.type);
    if (denied) return denied;
    return unlessDatabaseUnavailable(() =>
      this.run(actor.via === 'system' ? null : actor.user.id, phased.input, phased.scope, input.type),
    );
  }

  /** An event of Switchboard's own (`subscription.disabled`), for one user's subscriptions and admins'. */
  publishSystem(type: string, payload: unknown, audienceUserId: UserId | null): Promise<Result<PublishOutcome>> {
    return unlessDatabaseUnavailable(() => this.run(null, { type, payload }, { audienceUserId }));
  }

  /** servo-webhooks' `trigger`: an event for one subscription, whether or not it matches. */
  async publishTo(actor: Principal, subscriptionId: string, input: PublishInput): Promise<Result<PublishOutcome>> {
    const phased = withPhase(input);
    const denied = this.checkPublisher(actor, phased.input.type);
    if (denied) return denied;
    return unlessDatabaseUnavailable(async () => {
      const found = await this.deps.subscriptions.find(actor, subscriptionId);
      if (!found) return fail('NOT_FOUND', 'No such subscription');
      const { mode } = phased.scope;
      if (mode && found.mode !== mode) {
        return fail(
          'INVALID',
          `"${found.name}" is ${describeHookMode(found.mode)}; ${input.type} reaches only ${describeHookMode(mode).replace(/^an? /, '')}s`,
          { fields: [{ path: 'type', message: `does not reach ${describeHookMode(found.mode)}` }] },
        );
      }
      const scope = { ...phased.scope, subscriptionId: found.id, force: true };
      return this.run(actor.via === 'system' ? null : actor.user.id, phased.input, scope, input.type);
    });
  }

  /** `hashedType` is the type as given, phase included: `before:x` and `after:x` are two events. */
  private async run(
    publisherId: UserId | null,
    input: PublishInput,
    scope: MatchScope,
    hashedType = input.type,
  ): Promise<Result<PublishOutcome>> {
    const checked = await this.check(input);
    if (!checked.ok) return checked;
    const contentHash = hashContent(hashedType, input.payload);
    const key = input.idempotencyKey ?? (input.dedupeByContent ? `content:${contentHash}` : null);
    if (key && publisherId) {
      // A publish that waits for blocking subscriptions takes seconds, and the key is only taken
      // when it is stored: a repeat with the same key (a client retrying after its own timeout)
      // waits for the first here rather than sending to the blocking subscriptions again. The lock
      // is taken in the same tick as the check that found it free. Across processes the stored key
      // still keeps the event single.
      const lockKey = `${publisherId}:${key}`;
      for (let held = this.keyed.get(lockKey); held; held = this.keyed.get(lockKey)) await held;
      let release = () => {};
      this.keyed.set(
        lockKey,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      try {
        const earlier = await this.findByKey(publisherId, key, contentHash);
        if (earlier) return earlier;
        return await this.store(publisherId, input, scope, contentHash, key);
      } finally {
        this.keyed.delete(lockKey);
        release();
      }
    }
    return this.store(publisherId, input, scope, contentHash, key);
  }

  private async store(
    publisherId: UserId | null,
    input: PublishInput,
    scope: MatchScope,
    contentHash: string,
    key: string | null,
  ): Promise<Result<PublishOutcome>> {
    const now = this.deps.clock.now();
    const envelope = buildEnvelope(input.type, now, input.payload);
    const body = Buffer.from(JSON.stringify(envelope));
    const matched = await this.deps.matcher.match(input.type, envelope, scope);
    const eventId = newId<EventId>();
    const blocking = input.wait ? await this.deliverBlocking({ id: eventId, body }, matched, now) : [];
    const cancelled = blocking.find((b) => b.cancelReason !== null);
    const cancellation = cancelled
      ? { reason: cancelled.cancelReason as string, subscriptionId: cancelled.subscriptionId }
      : null;
    const blockingIds = new Set(blocking.map((b) => b.subscriptionId));
    const asyncTargets = cancellation ? [] : matched.filter((m) => !blockingIds.has(m.id));
    const asyncIds = asyncTargets.map((m) => m.id);
    // Deliveries this process's worker can start now are written already claimed by it, and handed
    // over in memory; the rest wait for any worker's claim.
    const worker = blocking.length === 0 ? this.deps.localWorker?.() : undefined;
    const handOver =
      worker && worker.room >= asyncTargets.length
        ? asyncTargets.filter((m) => worker.roomFor(m.id, m.maxInFlight) > 0)
        : [];
    const byId = new Map(handOver.map((m) => [m.id, m]));

    const event: NewEvent = {
      id: eventId,
      type: input.type,
      body,
      publisherId,
      idempotencyKey: publisherId ? key : null,
      contentHash,
      status: cancellation ? 'cancelled' : 'published',
      cancelReason: cancellation?.reason ?? null,
      audienceUserId: scope.audienceUserId ?? null,
      targetSubscriptionId: scope.subscriptionId ?? null,
      createdAt: now,
    };
    const attempted = blocking.map(({ subscriptionId, webhookId, outcome }) => ({
      subscriptionId,
      webhookId,
      outcome,
    }));
    const targets = asyncTargets.map((m) => ({
      subscriptionId: m.id,
      ...(byId.has(m.id) && worker
        ? { leaseUntil: new Date(now.getTime() + m.target.timeoutMs + worker.leaseMargin) }
        : {}),
    }));
    const written = await this.eventStore.insert(event, targets, attempted);
    if (!written.inserted) {
      // Another publish with the same key committed first.
      const earlier = key && publisherId ? await this.findByKey(publisherId, key, contentHash) : null;
      return earlier ?? fail('CONFLICT', 'The event could not be stored; publish it again');
    }
    if (worker && written.leased.length > 0) {
      worker.adopt(
        written.leased.map((leased) => {
          const candidate = byId.get(leased.subscriptionId) as MatchCandidate;
          return leasedEventDelivery({
            deliveryId: leased.id,
            webhookId: leased.webhookId,
            event: { id: eventId, body },
            subscription: candidate.target,
            rateLimitPerSecond: candidate.rateLimitPerSecond,
            maxInFlight: candidate.maxInFlight,
            now,
          });
        }),
      );
    }
    if (written.leased.length < asyncIds.length || blocking.some((b) => b.outcome.status === 'pending')) {
      this.deps.onDeliveriesDue?.();
    }
    return ok({
      event: toEventRecord(event, envelope.data),
      duplicate: false,
      deliveryCount: asyncIds.length + blocking.length,
      cancellation,
      blocking: blocking.map(({ subscriptionId, outcome }) => ({
        subscriptionId,
        succeeded: outcome.succeeded,
        statusCode: outcome.response?.status ?? null,
        error: outcome.error,
      })),
    });
  }

  private checkPublisher(actor: Principal, type: string): Result<never> | null {
    if (!hasScope(actor, 'events:publish'))
      return fail('FORBIDDEN', 'Publishing events needs the events:publish scope');
    if (SYSTEM_EVENT_TYPES.has(type) && actor.via !== 'system') {
      return fail('FORBIDDEN', `"${type}" events are published by Switchboard itself`);
    }
    return null;
  }

  private async check(input: PublishInput): Promise<Result<null>> {
    const fields: Array<{ path: string; message: string }> = [];
    if (typeof input.type !== 'string' || input.type === '') fields.push({ path: 'type', message: 'is required' });
    else if (!isEventTypeName(input.type)) {
      fields.push({ path: 'type', message: 'is not an event type name such as invoice.paid' });
    }
    if (input.payload === undefined) fields.push({ path: 'payload', message: 'is required (any JSON value)' });
    if (
      input.idempotencyKey !== undefined &&
      input.idempotencyKey !== null &&
      !IDEMPOTENCY_KEY.test(input.idempotencyKey)
    ) {
      fields.push({ path: 'idempotencyKey', message: 'must be 1 to 255 visible ASCII characters' });
    }
    if (fields.length === 0 && !isSerializable(input.payload)) {
      fields.push({ path: 'payload', message: 'nests too deeply to be sent' });
    }
    if (fields.length > 0) return fail('INVALID', 'The event is not valid', { fields });
    const typed = await this.deps.eventTypes.checkPayload(input.type, input.payload);
    if (!typed.ok && typed.error.code === 'NOT_FOUND') {
      return fail('INVALID', typed.error.message, {
        fields: [{ path: 'type', message: 'is not a known event type; an admin creates it first' }],
      });
    }
    return typed.ok ? ok(null) : typed;
  }

  private async findByKey(
    publisherId: UserId,
    key: string,
    contentHash: string,
  ): Promise<Result<PublishOutcome> | null> {
    const row = await this.eventStore.findByKey(publisherId, key);
    if (!row) return null;
    const { contentHash: storedHash, ...event } = row;
    if (storedHash !== contentHash) {
      return fail('CONFLICT', `This idempotency key was already used for a different event (${row.id})`);
    }
    return ok({ event: toEventRecord(event), duplicate: true, deliveryCount: 0, cancellation: null, blocking: [] });
  }

  /** Blocking subscriptions get their first attempt now, all at once, each within its timeout. */
  private async deliverBlocking(
    event: { id: EventId; body: Buffer },
    matched: MatchCandidate[],
    now: Date,
  ): Promise<
    Array<{ subscriptionId: SubscriptionId; webhookId: string; outcome: AttemptOutcome; cancelReason: string | null }>
  > {
    const blocking = matched.filter((m) => m.mode === 'blocking');
    return Promise.all(
      blocking.map(async (candidate) => {
        const webhookId = `msg_${randomUUID().replaceAll('-', '')}`;
        const target = blockingAttemptTarget(candidate.target, event, webhookId, now);
        const sent = await performAttempt(target, { sender: this.deps.sender, now: () => this.deps.clock.now() });
        const outcome = settleEventOutcome(sent.outcome);
        return {
          subscriptionId: candidate.id,
          webhookId,
          outcome,
          cancelReason: readCancelReason(sent.result, outcome.succeeded),
        };
      }),
    );
  }
}

/** The type without its servo phase, and the subscriptions' mode the phase reaches. */
function withPhase(input: PublishInput): { input: PublishInput; scope: MatchScope } {
  const { type, phase } = splitHookPhase(input.type);
  if (!phase) return { input, scope: {} };
  return { input: { ...input, type }, scope: { mode: modeOfPhase(phase) } };
}
