import { type OutboundKind, readColumn } from '../outbound/kind.ts';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { JobId } from '../shared/ids.ts';
import type { JobStore } from './job-store.ts';

export type JobEndState = 'succeeded' | 'failed' | 'cancelled';

export interface JobReport {
  jobId: JobId;
  state: JobEndState;
  attempts: number;
  url: string;
  method: string;
  finishedAt: Date;
  response: { status: number; headers: Record<string, string>; body: Buffer | null; truncated: boolean } | null;
  error: string | null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text when it is UTF-8, else as base64, saying which. */
export function encodeBody(body: Buffer | null): { body: string | null; bodyEncoding: 'utf8' | 'base64' } {
  if (!body || body.length === 0) return { body: body ? '' : null, bodyEncoding: 'utf8' };
  try {
    return { body: utf8.decode(body), bodyEncoding: 'utf8' };
  } catch {
    return { body: body.toString('base64'), bodyEncoding: 'base64' };
  }
}

/**
 * What a job's callback receives, in the shape every Switchboard webhook has (`type`, `timestamp`,
 * `data`), signed the Standard Webhooks way with the owner's signing secret.
 */
export function buildCallbackBody(report: JobReport): Buffer {
  const response = report.response
    ? {
        status: report.response.status,
        headers: report.response.headers,
        ...encodeBody(report.response.body),
        truncated: report.response.truncated,
      }
    : null;
  return Buffer.from(
    JSON.stringify({
      type: `job.${report.state}`,
      timestamp: report.finishedAt.toISOString(),
      data: {
        jobId: report.jobId,
        state: report.state,
        attempts: report.attempts,
        url: report.url,
        method: report.method,
        finishedAt: report.finishedAt.toISOString(),
        response,
        error: report.error,
      },
    }),
  );
}

/** A callback is sent within this, and retried on the job's callback policy. */
export const CALLBACK_TIMEOUT_MS = 15_000;

/** The callback to queue when a job ends (see switchboard_end_jobs): its body and its timeout. */
export function callbackFor(report: JobReport): { body: Buffer; timeoutMs: number } {
  return { body: buildCallbackBody(report), timeoutMs: CALLBACK_TIMEOUT_MS };
}

/**
 * A job's callback: the kind `callback` of the outbound engine. Its body was built when the job
 * ended (see job-request.ts and jobs-service.ts cancel); it is signed with the owner's signing
 * secret.
 */
export function jobCallbacks(store: Pick<JobStore, 'callbackTargets'>): OutboundKind<{ jobId: JobId }> {
  return {
    kind: 'callback',
    async plan(claimed) {
      // The claim's rows are read by raw SQL: their job ids are branded here.
      const jobIds = claimed.map((c) => String(c.columns.job_id) as JobId);
      const rows = new Map((await store.callbackTargets(jobIds)).map((row) => [row.id, row]));
      return claimed.map((c, i) => {
        const jobId = jobIds[i];
        const row = jobId === undefined ? undefined : rows.get(jobId);
        if (!row?.callbackUrl || !row.ownerSecret) return null;
        return {
          request: {
            url: row.callbackUrl,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: readColumn.buffer(c.columns.body),
            signing: {
              signing: { scheme: 'standard-webhooks' },
              secret: row.ownerSecret,
              previousSecret: null,
              previousSecretExpiresAt: null,
            },
            timeoutMs: CALLBACK_TIMEOUT_MS,
            retryPolicy: row.callbackRetryPolicy as RetryPolicy,
            acceptedStatuses: null,
          },
          skip: null,
          rateLimit: null,
          context: { jobId: row.id },
        };
      });
    },
    onOutcome: (_delivery, outcome) => outcome,
  };
}
