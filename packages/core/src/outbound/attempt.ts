import type { DeliveryKind, DeliveryStatus } from '@switchboard/db';
import { type BodyFormat, formatBody } from './body-format.ts';
import type { HttpSender, OutboundResult } from './http-sender.ts';
import { type RetryPolicy, scheduleNextAttempt } from './retry-policy.ts';
import { signAttempt } from './signing.ts';
import type { Signing } from './subscription-definition.ts';

/** Where and how a subscription is sent to. */
export interface SubscriptionTarget {
  id: string;
  url: string;
  headers: Record<string, string>;
  signing: Signing;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  bodyFormat: BodyFormat;
}

/** The request an attempt makes, whatever kind of delivery it is. */
export interface RequestPlan {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** How to sign it; null sends it as it is (a job's own request). */
  signing: Pick<SubscriptionTarget, 'signing' | 'secret' | 'previousSecret' | 'previousSecretExpiresAt'> | null;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  /** Statuses that count as success; null: any 2xx. */
  acceptedStatuses: readonly number[] | null;
}

/** What one attempt needs: the delivery as claimed and the request it makes. */
export interface DeliveryTarget {
  deliveryId: number;
  kind: DeliveryKind;
  webhookId: string;
  /** Attempts made, this one included. */
  attempt: number;
  /** Attempts before the current series (a retry or recovery starts the policy afresh). */
  attemptOffset: number;
  firstAttemptAt: Date;
  subscriptionId: string | null;
  jobId: string | null;
  plan: RequestPlan;
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

/** One row for `switchboard_complete_deliveries` (see the migration for the meaning of each key). */
export interface CompletionRecord {
  id: number;
  n: number;
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
  /** For jobs: the job's new state, and the callback to queue (base64). */
  jst?: 'succeeded' | 'failed' | 'retrying' | 'accepted' | null;
  cb?: string | null;
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
  const { plan } = target;
  const headers: Record<string, string> = { ...plan.headers };
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) headers['user-agent'] = USER_AGENT;
  if (plan.signing) {
    const secrets = [plan.signing.secret];
    const previous = plan.signing.previousSecretExpiresAt;
    if (plan.signing.previousSecret && previous && previous > started) secrets.push(plan.signing.previousSecret);
    Object.assign(
      headers,
      signAttempt({
        signing: plan.signing.signing,
        secrets,
        webhookId: target.webhookId,
        timestamp: started,
        body: plan.body ?? Buffer.alloc(0),
      }),
    );
  }
  const result = await deps.sender.send({
    url: plan.url,
    method: plan.method,
    headers,
    body: plan.body,
    timeoutMs: plan.timeoutMs,
  });
  const base = {
    id: target.deliveryId,
    n: target.attempt,
    rec: true,
    t: started.toISOString(),
    dur: result.durationMs,
  };
  if (result.kind === 'response' && isSuccess(result.statusCode, plan.acceptedStatuses)) {
    return {
      result,
      cancelReason: readCancelReason(result.headers, result.body),
      record: { ...base, ...responseFields(result), ok: true, st: 'succeeded', nxt: null, err: null, gone: false },
    };
  }
  if (result.kind === 'invalid') {
    // Nothing was sent and nothing would change on a retry: the delivery fails now.
    return {
      result,
      cancelReason: null,
      record: {
        ...base,
        sc: null,
        h: null,
        b: null,
        tr: false,
        ok: false,
        st: 'failed',
        nxt: null,
        err: result.error,
        gone: false,
      },
    };
  }
  if (result.kind === 'response' && result.statusCode === 410 && target.kind === 'event') {
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
    policy: plan.retryPolicy,
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

function isSuccess(status: number, accepted: readonly number[] | null): boolean {
  return accepted?.length ? accepted.includes(status) : status >= 200 && status < 300;
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
