import type { DeliveryStatus } from '@switchboard/db';
import type { DeliveryId } from '../shared/ids.ts';

/** What the receiver answered, as recorded on the attempt. */
export interface ReceiverResponse {
  status: number;
  headers: Record<string, string>;
  /** Up to the recorded limit; null when the answer had no body. */
  body: Buffer | null;
  /** The body was longer than what is recorded. */
  truncated: boolean;
}

/**
 * Why an outcome was reached: an attempt was made (`attempted`), or the delivery was not sent
 * because its kind said so (`skipped`: a disabled subscription, a cancelled job), its rate limit
 * put it off (`deferred`), the worker handed the claim back untried (`released`), or no attempt
 * was left after a worker stopped mid-attempt (`exhausted`). Only `attempted` records an attempt.
 */
export type Disposition = 'attempted' | 'skipped' | 'deferred' | 'released' | 'exhausted';

/** A job's transition written with its request's outcome, and the callback to queue with it. */
export interface JobTransition {
  state: 'succeeded' | 'failed' | 'retrying' | 'accepted';
  /** The callback to queue (its body and timeout), when the job has ended and has a callback URL. */
  callback: { body: Buffer; timeoutMs: number } | null;
}

/**
 * What became of one claimed delivery, recorded with the rest of its batch in one statement
 * (see outbound-store.ts, the only place that knows the compact form the SQL function reads).
 */
export interface AttemptOutcome {
  deliveryId: DeliveryId;
  /** Attempts made, this one included. */
  attempt: number;
  disposition: Disposition;
  succeeded: boolean;
  /** The delivery's status afterwards. */
  status: DeliveryStatus;
  /** When it is due again; null when it is done. */
  nextAttemptAt: Date | null;
  startedAt: Date;
  durationMs: number;
  response: ReceiverResponse | null;
  error: string | null;
  /** The receiver answered 410 Gone: the subscription is disabled. */
  endpointGone: boolean;
  /** For a delivery that is a job's request: the job's transition. */
  job?: JobTransition;
}

/** An outcome that records no attempt: due again at `nextAttemptAt`, or ended with `status`. */
export function unsent(
  delivery: { deliveryId: DeliveryId; attempt: number },
  now: Date,
  fields: Pick<AttemptOutcome, 'disposition' | 'status' | 'nextAttemptAt' | 'error'>,
): AttemptOutcome {
  return {
    deliveryId: delivery.deliveryId,
    attempt: delivery.attempt,
    succeeded: false,
    startedAt: now,
    durationMs: 0,
    response: null,
    endpointGone: false,
    ...fields,
  };
}
