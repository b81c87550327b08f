import type { DeliveryId } from '../shared/ids.ts';
import type { HttpSender, OutboundResult } from './http-sender.ts';
import type { AttemptOutcome } from './outcome.ts';
import { type RetryPolicy, scheduleNextAttempt } from './retry-policy.ts';
import { type Signing, signAttempt } from './signing.ts';

/** The secrets that sign a request: the current one, and the previous one during its grace period. */
export interface SigningKeys {
  signing: Signing;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
}

/** The request an attempt makes, whatever kind of delivery it is. */
export interface RequestPlan {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  /** How to sign it; null sends it as it is (a job's own request). */
  signing: SigningKeys | null;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  /** Statuses that count as success; null: any 2xx. */
  acceptedStatuses: readonly number[] | null;
}

/** What one attempt needs: the delivery as claimed and the request it makes. */
export interface AttemptTarget {
  deliveryId: DeliveryId;
  webhookId: string;
  /** Attempts made, this one included. */
  attempt: number;
  /** Attempts before the current series (a retry or recovery starts the policy afresh). */
  attemptOffset: number;
  firstAttemptAt: Date;
  request: RequestPlan;
}

export const USER_AGENT = 'Switchboard-Webhooks/1.0';

/**
 * Makes one attempt and decides what becomes of the delivery: done, retried when, or failed.
 * The receiver's raw answer comes back beside the outcome, for rules of a kind's own.
 */
export async function performAttempt(
  target: AttemptTarget,
  deps: { sender: HttpSender; now: () => Date; random?: () => number },
): Promise<{ outcome: AttemptOutcome; result: OutboundResult }> {
  const started = deps.now();
  const plan = target.request;
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
    deliveryId: target.deliveryId,
    attempt: target.attempt,
    disposition: 'attempted' as const,
    startedAt: started,
    durationMs: result.durationMs,
    endpointGone: false,
  };
  const response =
    result.kind === 'response'
      ? {
          status: result.statusCode,
          headers: result.headers,
          body: result.body.length > 0 ? result.body : null,
          truncated: result.truncated,
        }
      : null;
  if (result.kind === 'response' && isSuccess(result.statusCode, plan.acceptedStatuses)) {
    return {
      result,
      outcome: { ...base, response, succeeded: true, status: 'succeeded', nextAttemptAt: null, error: null },
    };
  }
  if (result.kind === 'invalid') {
    // Nothing was sent and nothing would change on a retry: the delivery fails now.
    return {
      result,
      outcome: {
        ...base,
        response: null,
        succeeded: false,
        status: 'failed',
        nextAttemptAt: null,
        error: result.error,
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
    outcome: {
      ...base,
      response,
      succeeded: false,
      status: next ? 'pending' : 'failed',
      nextAttemptAt: next,
      error: next ? error : `${error} (no attempts left)`,
    },
  };
}

function isSuccess(status: number, accepted: readonly number[] | null): boolean {
  return accepted?.length ? accepted.includes(status) : status >= 200 && status < 300;
}
