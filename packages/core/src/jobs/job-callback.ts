import type { CompletionRecord } from '../delivery/delivery-attempt.ts';
import type { ClaimedDelivery } from '../delivery/delivery-store.ts';

export type JobEndState = 'succeeded' | 'failed' | 'cancelled';

export interface JobReport {
  jobId: string;
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

/**
 * For a job's own request: the job's new state, and when the job has ended and has a callback
 * URL, the callback to queue with the outcome (written in the same statement as the outcome).
 */
export function withJobOutcome(delivery: ClaimedDelivery, record: CompletionRecord, now: Date): CompletionRecord {
  if (delivery.kind !== 'job' || !delivery.job || !record.rec) return record;
  const jst = record.ok ? 'succeeded' : record.st === 'failed' ? 'failed' : 'retrying';
  if (jst === 'retrying' || !delivery.job.callbackUrl) return { ...record, jst, cb: null };
  const body = buildCallbackBody({
    jobId: delivery.job.id,
    state: jst,
    attempts: record.n,
    url: delivery.job.url,
    method: delivery.job.method,
    finishedAt: now,
    response:
      record.sc === null
        ? null
        : {
            status: record.sc,
            headers: record.h ?? {},
            body: record.b ? Buffer.from(record.b, 'base64') : null,
            truncated: record.tr,
          },
    error: record.err,
  });
  return { ...record, jst, cb: body.toString('base64') };
}
