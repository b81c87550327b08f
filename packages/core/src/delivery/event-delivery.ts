import type { AttemptTarget, RequestPlan, SigningKeys } from '../outbound/attempt.ts';
import type { OutboundResult } from '../outbound/http-sender.ts';
import { type ClaimedDelivery, type ClaimedRow, type OutboundKind, readColumn } from '../outbound/kind.ts';
import type { AttemptOutcome } from '../outbound/outcome.ts';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { Signing } from '../outbound/signing.ts';
import { type BodyFormat, formatBody } from './body-format.ts';

/** Where and how a subscription is sent to. */
export interface SubscriptionTarget extends SigningKeys {
  id: string;
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  bodyFormat: BodyFormat;
}

/** An event's delivery to a subscription: its body, shaped and signed as the subscription asks. */
export function planForSubscription(
  subscription: SubscriptionTarget,
  event: { id: string; body: Buffer },
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

/** An event's delivery to one subscription: the kind `event` of the outbound engine. */
export const eventDeliveries: OutboundKind<{ subscriptionId: string }> = {
  kind: 'event',
  plan(row: ClaimedRow) {
    const subscriptionId = String(row.subscription_id);
    const target: SubscriptionTarget = {
      id: subscriptionId,
      url: String(row.url),
      headers: readColumn.json<Record<string, string>>(row.headers),
      signing: readColumn.json<Signing>(row.signing),
      secret: String(row.secret),
      previousSecret: (row.previous_secret as string | null) ?? null,
      previousSecretExpiresAt: row.previous_secret_expires_at ? readColumn.date(row.previous_secret_expires_at) : null,
      timeoutMs: Number(row.timeout_ms),
      retryPolicy: readColumn.json<RetryPolicy>(row.retry_policy),
      bodyFormat: String(row.body_format) as BodyFormat,
    };
    const perSecond = row.rate_limit_per_second === null ? null : Number(row.rate_limit_per_second);
    return {
      request: planForSubscription(target, { id: String(row.event_id), body: readColumn.buffer(row.event_body) }),
      skip: row.enabled ? null : { status: 'failed', reason: 'not sent: the subscription is disabled' },
      rateLimit: perSecond === null ? null : { key: subscriptionId, perSecond },
      context: { subscriptionId },
    };
  },
  onOutcome: (_delivery, outcome) => settleEventOutcome(outcome),
};

/**
 * A delivery this process wrote already leased to its own worker (see EventPublisher): handed
 * over as if claimed, to save the claim's round trip.
 */
export function leasedEventDelivery(input: {
  deliveryId: number;
  webhookId: string;
  event: { id: string; body: Buffer };
  subscription: SubscriptionTarget;
  rateLimitPerSecond: number | null;
  maxInFlight: number | null;
  now: Date;
}): ClaimedDelivery<{ subscriptionId: string }> {
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
    request: planForSubscription(input.subscription, input.event),
    skip: null,
    rateLimit: input.rateLimitPerSecond === null ? null : { key: subscriptionId, perSecond: input.rateLimitPerSecond },
    context: { subscriptionId },
  };
}

/** A blocking subscription's first attempt, made while the publisher waits. */
export function blockingAttemptTarget(
  subscription: SubscriptionTarget,
  event: { id: string; body: Buffer },
  webhookId: string,
  now: Date,
): AttemptTarget {
  return {
    deliveryId: 0,
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
