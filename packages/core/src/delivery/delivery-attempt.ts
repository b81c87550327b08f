import type { DeliveryStatus } from '@switchboard/db';
import type { HttpSender, OutboundResult } from './http-sender.ts';
import { type RetryPolicy, scheduleNextAttempt } from './retry-policy.ts';
import { signAttempt } from './signing.ts';
import type { Signing } from './subscription-definition.ts';

/** What one attempt needs: the delivery as claimed, its subscription and its event. */
export interface DeliveryTarget {
  deliveryId: number;
  webhookId: string;
  /** Attempts made, this one included. */
  attempt: number;
  /** Attempts before the current series (a retry or recovery starts the policy afresh). */
  attemptOffset: number;
  firstAttemptAt: Date;
  subscription: {
    id: string;
    url: string;
    headers: Record<string, string>;
    signing: Signing;
    secret: string;
    previousSecret: string | null;
    previousSecretExpiresAt: Date | null;
    timeoutMs: number;
    retryPolicy: RetryPolicy;
  };
  event: { id: string; type: string; body: Buffer };
}

/** One row for `switchboard_complete_deliveries` (see the migration for the meaning of each key). */
export interface CompletionRecord {
  id: number;
  n: number;
  sub: string | null;
  rec: boolean;
  ok: boolean;
  st: DeliveryStatus;
  nxt: string | null;
  t: string;
  dur: number;
  sc: number | null;
  h: Record<string, string> | null;
  b: string | null;
  tr: boolean;
  err: string | null;
  gone: boolean;
}

export interface AttemptOutcome {
  record: CompletionRecord;
  result: OutboundResult;
  /** The receiver asked to cancel the event (only blocking subscriptions are listened to). */
  cancelReason: string | null;
}

/** Content types with which a receiver cancels an event: ours, and servo-webhooks'. */
export const CANCEL_CONTENT_TYPES = [
  'application/vnd.switchboard.cancel+json',
  'application/vnd.opsani.servo.errors.canceleventerror+json',
];

export const USER_AGENT = 'Switchboard-Webhooks/1.0';

/** Makes one attempt and decides what becomes of the delivery: done, retried when, or failed. */
export async function performAttempt(
  target: DeliveryTarget,
  deps: { sender: HttpSender; now: () => Date; random?: () => number },
): Promise<AttemptOutcome> {
  const started = deps.now();
  const { subscription } = target;
  const secrets = [subscription.secret];
  if (
    subscription.previousSecret &&
    subscription.previousSecretExpiresAt &&
    subscription.previousSecretExpiresAt > started
  ) {
    secrets.push(subscription.previousSecret);
  }
  const headers: Record<string, string> = {
    ...subscription.headers,
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    ...signAttempt({
      signing: subscription.signing,
      secrets,
      webhookId: target.webhookId,
      timestamp: started,
      body: target.event.body,
    }),
  };
  const result = await deps.sender.send({
    url: subscription.url,
    method: 'POST',
    headers,
    body: target.event.body,
    timeoutMs: subscription.timeoutMs,
  });
  const base = {
    id: target.deliveryId,
    n: target.attempt,
    sub: subscription.id,
    rec: true,
    t: started.toISOString(),
    dur: result.durationMs,
  };
  if (result.kind === 'response' && result.statusCode >= 200 && result.statusCode < 300) {
    return {
      result,
      cancelReason: readCancelReason(result.headers, result.body),
      record: { ...base, ...responseFields(result), ok: true, st: 'succeeded', nxt: null, err: null, gone: false },
    };
  }
  if (result.kind === 'response' && result.statusCode === 410) {
    return {
      result,
      cancelReason: null,
      record: {
        ...base,
        ...responseFields(result),
        ok: false,
        st: 'failed',
        nxt: null,
        err: 'HTTP 410 Gone: the endpoint is gone, so the subscription is disabled',
        gone: true,
      },
    };
  }
  const next = scheduleNextAttempt({
    policy: subscription.retryPolicy,
    attemptsMade: target.attempt - target.attemptOffset,
    firstAttemptAt: target.firstAttemptAt,
    now: deps.now(),
    status: result.kind === 'response' ? result.statusCode : null,
    retryAfter: result.kind === 'response' ? result.headers['retry-after'] : null,
    random: deps.random,
  });
  const error = result.kind === 'response' ? `HTTP ${result.statusCode}` : result.error;
  return {
    result,
    cancelReason: null,
    record: {
      ...base,
      ...(result.kind === 'response' ? responseFields(result) : { sc: null, h: null, b: null, tr: false }),
      ok: false,
      st: next ? 'pending' : 'failed',
      nxt: next ? next.toISOString() : null,
      err: next ? error : `${error} (no attempts left)`,
      gone: false,
    },
  };
}

function responseFields(result: Extract<OutboundResult, { kind: 'response' }>) {
  return {
    sc: result.statusCode,
    h: result.headers,
    b: result.body.length > 0 ? result.body.toString('base64') : null,
    tr: result.truncated,
  };
}

function readCancelReason(headers: Record<string, string>, body: Buffer): string | null {
  const type = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (!type || !CANCEL_CONTENT_TYPES.includes(type)) return null;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown };
    if (typeof parsed.reason === 'string' && parsed.reason.trim() !== '') return parsed.reason.trim().slice(0, 1000);
  } catch {
    // A cancellation without a readable reason still cancels.
  }
  return 'cancelled by a blocking subscription (no reason given)';
}
