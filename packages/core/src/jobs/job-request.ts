import { type OutboundKind, readColumn } from '../outbound/kind.ts';
import type { AttemptOutcome, JobTransition } from '../outbound/outcome.ts';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { JobId } from '../shared/ids.ts';
import { callbackFor } from './job-callback.ts';
import type { JobStore } from './job-store.ts';

interface JobContext {
  id: JobId;
  url: string;
  method: string;
  callbackUrl: string | null;
}

/**
 * A job's own request: the kind `job` of the outbound engine. A claimed request starts its job
 * (`running`); its outcome moves the job along (written in the same statement), and once the job
 * has ended with a callback URL, queues the callback that reports it.
 */
export function jobRequests(store: Pick<JobStore, 'startRequests'>): OutboundKind<JobContext> {
  return {
    kind: 'job',
    async plan(claimed, now) {
      // The claim's rows are read by raw SQL: their job ids are branded here.
      const jobIds = claimed.map((c) => String(c.columns.job_id) as JobId);
      const rows = new Map((await store.startRequests(jobIds, now)).map((row) => [String(row.id), row]));
      return jobIds.map((jobId) => {
        const row = rows.get(jobId);
        if (!row) return null;
        return {
          request: {
            url: String(row.url),
            method: String(row.method),
            headers: readColumn.json<Record<string, string>>(row.headers),
            body: row.body ? readColumn.buffer(row.body) : null,
            signing: null,
            timeoutMs: Number(row.timeout_ms),
            retryPolicy: readColumn.json<RetryPolicy>(row.retry_policy),
            acceptedStatuses: (row.accepted_statuses as number[] | null) ?? null,
          },
          skip:
            row.state === 'cancelled'
              ? { status: 'cancelled' as const, reason: 'not sent: the job was cancelled' }
              : null,
          rateLimit: null,
          context: {
            id: jobId,
            url: String(row.url),
            method: String(row.method),
            callbackUrl: (row.callback_url as string | null) ?? null,
          },
        };
      });
    },
    onOutcome(delivery, outcome, now) {
      const job = transition(delivery.context, delivery.attempt, outcome, now);
      return job ? { ...outcome, job } : outcome;
    },
  };
}

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
  const callback = callbackFor({
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
