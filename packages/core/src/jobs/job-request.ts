import { type OutboundKind, readColumn } from '../outbound/kind.ts';
import type { AttemptOutcome, JobTransition } from '../outbound/outcome.ts';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import { buildCallbackBody } from './job-callback.ts';

interface JobContext {
  id: string;
  url: string;
  method: string;
  callbackUrl: string | null;
}

/**
 * A job's own request: the kind `job` of the outbound engine. Its outcome moves the job along
 * (written in the same statement), and once the job has ended with a callback URL, queues the
 * callback that reports it.
 */
export const jobRequests: OutboundKind<JobContext> = {
  kind: 'job',
  plan(row) {
    const state = String(row.job_state);
    return {
      request: {
        url: String(row.job_url),
        method: String(row.job_method),
        headers: readColumn.json<Record<string, string>>(row.job_headers),
        body: row.job_body ? readColumn.buffer(row.job_body) : null,
        signing: null,
        timeoutMs: Number(row.job_timeout_ms),
        retryPolicy: readColumn.json<RetryPolicy>(row.job_retry_policy),
        acceptedStatuses: (row.job_accepted_statuses as number[] | null) ?? null,
      },
      skip: state === 'cancelled' ? { status: 'cancelled', reason: 'not sent: the job was cancelled' } : null,
      rateLimit: null,
      context: {
        id: String(row.job_id),
        url: String(row.job_url),
        method: String(row.job_method),
        callbackUrl: (row.job_callback_url as string | null) ?? null,
      },
    };
  },
  onOutcome(delivery, outcome, now) {
    const job = transition(delivery.context, delivery.attempt, outcome, now);
    return job ? { ...outcome, job } : outcome;
  },
};

function transition(job: JobContext, attempt: number, outcome: AttemptOutcome, now: Date): JobTransition | null {
  switch (outcome.disposition) {
    // Handed back untried: the job goes back to the state it had before the claim.
    case 'released':
      return { state: attempt > 1 ? 'retrying' : 'accepted', callback: null };
    // No attempt left after a worker stopped mid-attempt: the job fails, with no callback queued.
    case 'exhausted':
      return { state: 'failed', callback: null };
    case 'attempted':
      break;
    default:
      return null;
  }
  const state = outcome.succeeded ? 'succeeded' : outcome.status === 'failed' ? 'failed' : 'retrying';
  if (state === 'retrying' || !job.callbackUrl) return { state, callback: null };
  const callback = buildCallbackBody({
    jobId: job.id,
    state,
    attempts: outcome.attempt,
    url: job.url,
    method: job.method,
    finishedAt: now,
    response: outcome.response,
    error: outcome.error,
  });
  return { state, callback };
}
