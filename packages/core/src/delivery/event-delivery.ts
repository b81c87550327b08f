import type { AttemptTarget, RequestPlan, SigningKeys } from '../outbound/attempt.ts';
import type { OutboundResult } from '../outbound/http-sender.ts';
import { type ClaimedDelivery, type OutboundKind, readColumn } from '../outbound/kind.ts';
import type { AttemptOutcome } from '../outbound/outcome.ts';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { Signing } from '../outbound/signing.ts';
import { type DeliveryId, type EventId, type SubscriptionId, UNWRITTEN_DELIVERY_ID } from '../shared/ids.ts';
import { type BodyFormat, formatBody } from './body-format.ts';
import { CLAIMED_EVENT_COLUMNS } from './delivery-store.ts';

/** Where and how a subscription is sent to. */
export interface SubscriptionTarget extends SigningKeys {
  id: SubscriptionId;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  bodyFormat: BodyFormat;
}

/** An event's delivery to a subscription: its body, shaped and signed as the subscription asks. */
export function planForSubscription(
  subscription: SubscriptionTarget,
  event: { id: EventId; body: Buffer },
): RequestPlan {
  return {
    url: subscription.url,
    method: 'POST',
    headers: { ...subscription.headers, 'content-type': 'application/json' },
    body: formatBody(subscription.bodyFormat, event),
    signing: subscription,
    timeoutMs: subscription.timeoutMs,
    retryPolicy: subscription.retryPolicy,
    acceptedStatuses: null,
  };
}

/** A receiver that answers 410 Gone is not sent to again: its subscription is disabled. */
export function settleEventOutcome(outcome: AttemptOutcome): AttemptOutcome {
  if (outcome.disposition !== 'attempted' || outcome.succeeded || outcome.response?.status !== 410) return outcome;
  return {
    ...outcome,
    status: 'failed',
    nextAttemptAt: null,
    error: 'HTTP 410 Gone: the endpoint is gone, so the subscription is disabled',
    endpointGone: true,
  };
}

/**
 * An event's delivery to one subscription: the kind `event` of the outbound engine. Its rows are
 * sent with their event and their subscription as they are when claimed.
 */
export const eventDeliveries: OutboundKind<{ subscriptionId: SubscriptionId }> = {
  kind: 'event',
  claimJoin: { as: 'ev', query: CLAIMED_EVENT_COLUMNS },
  async plan(claimed) {
    return claimed.map(({ columns: row }) => {
      // Gone with its event or subscription since the claim: nothing to send.
      if (row.ev_url === null || row.ev_url === undefined) return null;
      // The claim's rows are read by raw SQL: their ids are branded here.
      const subscriptionId = String(row.subscription_id) as SubscriptionId;
      const target: SubscriptionTarget = {
        id: subscriptionId,
        url: String(row.ev_url),
        headers: readColumn.json<Record<string, string>>(row.ev_headers),
        signing: readColumn.json<Signing>(row.ev_signing),
        secret: String(row.ev_secret),
        previousSecret: (row.ev_previous_secret as string | null) ?? null,
        previousSecretExpiresAt: row.ev_previous_secret_expires_at
          ? readColumn.date(row.ev_previous_secret_expires_at)
          : null,
        timeoutMs: Number(row.ev_timeout_ms),
        retryPolicy: readColumn.json<RetryPolicy>(row.ev_retry_policy),
        bodyFormat: String(row.ev_body_format) as BodyFormat,
      };
      const perSecond = row.ev_rate_limit_per_second === null ? null : Number(row.ev_rate_limit_per_second);
      return {
        request: planForSubscription(target, {
          id: String(row.event_id) as EventId,
          body: readColumn.buffer(row.ev_body),
        }),
        skip: row.ev_enabled ? null : { status: 'failed' as const, reason: 'not sent: the subscription is disabled' },
        rateLimit: perSecond === null ? null : { key: subscriptionId, perSecond },
        context: { subscriptionId },
      };
    });
  },
  onOutcome: (_delivery, outcome) => settleEventOutcome(outcome),
};

/**
 * A delivery this process wrote already leased to its own worker (see EventPublisher): handed
 * over as if claimed, to save the claim's round trip.
 */
export function leasedEventDelivery(input: {
  deliveryId: DeliveryId;
  webhookId: string;
  event: { id: EventId; body: Buffer };
  subscription: SubscriptionTarget;
  rateLimitPerSecond: number | null;
  maxInFlight: number | null;
  now: Date;
}): ClaimedDelivery<{ subscriptionId: SubscriptionId }> {
  const subscriptionId = input.subscription.id;
  return {
    deliveryId: input.deliveryId,
    kind: 'event',
    webhookId: input.webhookId,
    attempt: 1,
    attemptOffset: 0,
    firstAttemptAt: input.now,
    lane: subscriptionId,
    maxInFlight: input.maxInFlight,
    timeoutMs: input.subscription.timeoutMs,
    request: planForSubscription(input.subscription, input.event),
    skip: null,
    rateLimit: input.rateLimitPerSecond === null ? null : { key: subscriptionId, perSecond: input.rateLimitPerSecond },
    context: { subscriptionId },
  };
}

/** A blocking subscription's first attempt, made while the publisher waits. */
export function blockingAttemptTarget(
  subscription: SubscriptionTarget,
  event: { id: EventId; body: Buffer },
  webhookId: string,
  now: Date,
): AttemptTarget {
  return {
    deliveryId: UNWRITTEN_DELIVERY_ID,
    webhookId,
    attempt: 1,
    attemptOffset: 0,
    firstAttemptAt: now,
    request: planForSubscription(subscription, event),
  };
}

/** Content types with which a receiver cancels an event: ours, and servo-webhooks'. */
export const CANCEL_CONTENT_TYPES = [
  'application/vnd.switchboard.cancel+json',
  'application/vnd.opsani.servo.errors.canceleventerror+json',
];

/** A blocking subscription's receiver asked to cancel the event: its reason; null when it did not. */
export function readCancelReason(result: OutboundResult, succeeded: boolean): string | null {
  if (!succeeded || result.kind !== 'response') return null;
  const type = result.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (!type || !CANCEL_CONTENT_TYPES.includes(type)) return null;
  try {
    const parsed = JSON.parse(result.body.toString('utf8')) as { reason?: unknown };
    if (typeof parsed.reason === 'string' && parsed.reason.trim() !== '') return parsed.reason.trim().slice(0, 1000);
  } catch {
    // A cancellation without a readable reason still cancels.
  }
  return 'cancelled by a blocking subscription (no reason given)';
}
