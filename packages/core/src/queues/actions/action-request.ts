import type { RequestPlan, SigningKeys } from '../../outbound/attempt.ts';
import { type ClaimedDelivery, type OutboundKind, readColumn } from '../../outbound/kind.ts';
import type { RetryPolicy } from '../../outbound/retry-policy.ts';
import { normaliseSecret } from '../../outbound/signing.ts';
import type { ActionRunStore, OwedDelivery } from './action-run-store.ts';

const STANDARD_WEBHOOKS = { scheme: 'standard-webhooks' as const };

/** An owed request as action_runs.request keeps it (see ActionRunStore.record). */
export interface StoredOwedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  retryPolicy: RetryPolicy;
  signingSecret: string | null;
}

/** The request an attempt makes for an owed request, with its body (the message's own bytes for a forward). */
export function planOwedRequest(request: StoredOwedRequest, body: Buffer, timeoutMs: number): RequestPlan {
  const signing: SigningKeys | null = request.signingSecret
    ? {
        signing: STANDARD_WEBHOOKS,
        secret: normaliseSecret(STANDARD_WEBHOOKS, request.signingSecret),
        previousSecret: null,
        previousSecretExpiresAt: null,
      }
    : null;
  return {
    url: request.url,
    method: request.method,
    headers: request.headers,
    body: request.method === 'GET' || request.method === 'HEAD' ? null : body,
    signing,
    timeoutMs,
    retryPolicy: request.retryPolicy,
    acceptedStatuses: null,
  };
}

/**
 * A request an `http` or `forward` action owes: the kind `action` of the outbound engine. The
 * request was rendered when the action ran (action_runs.request); its body is the delivery's, or
 * for a forward of the message as it came, the message's own bytes, read when claimed.
 */
export function actionRequests(store: Pick<ActionRunStore, 'requestsOf'>): OutboundKind<null> {
  return {
    kind: 'action',
    async plan(claimed) {
      const found = await store.requestsOf(claimed.map((c) => c.deliveryId));
      return claimed.map((c) => {
        const owed = found.get(c.deliveryId);
        if (!owed) {
          // Its message (and so its action's row) was removed by a limit or a retention sweep.
          return {
            request: {
              url: 'http://0.0.0.0/',
              method: 'POST',
              headers: {},
              body: null,
              signing: null,
              timeoutMs: c.timeoutMs,
              retryPolicy: {},
              acceptedStatuses: null,
            },
            skip: { status: 'cancelled' as const, reason: 'not sent: its message was removed' },
            rateLimit: null,
            context: null,
          };
        }
        const body = c.columns.body ? readColumn.buffer(c.columns.body) : owed.messageBody;
        return {
          request: planOwedRequest(owed.request as unknown as StoredOwedRequest, body, c.timeoutMs),
          skip: null,
          rateLimit: null,
          context: null,
        };
      });
    },
    onOutcome: (_delivery, outcome) => outcome,
  };
}

/** An owed request written already claimed for this process's worker, as the worker takes it. */
export function leasedActionDelivery(owed: OwedDelivery, now: Date): ClaimedDelivery<null> {
  return {
    deliveryId: owed.deliveryId,
    kind: 'action',
    webhookId: owed.webhookId,
    attempt: 1,
    attemptOffset: 0,
    firstAttemptAt: now,
    lane: owed.lane,
    maxInFlight: null,
    timeoutMs: owed.owed.timeoutMs,
    request: planOwedRequest(
      {
        url: owed.owed.url,
        method: owed.owed.method,
        headers: owed.owed.headers,
        retryPolicy: owed.owed.retryPolicy,
        signingSecret: owed.owed.signingSecret,
      },
      owed.body,
      owed.owed.timeoutMs,
    ),
    skip: null,
    rateLimit: null,
    context: null,
  };
}
