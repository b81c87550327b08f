import { type JobNotifyState, type JobState, jobs } from '@switchboard/db';
import { encodeKeysetCursor } from '../shared/cursor.ts';
import type { JobId, UserId } from '../shared/ids.ts';

export interface Job {
  id: JobId;
  userId: UserId;
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  callbackUrl: string | null;
  timeoutMs: number;
  retryPolicy: Record<string, unknown>;
  callbackRetryPolicy: Record<string, unknown>;
  acceptedStatuses: number[] | null;
  state: JobState;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  responseHeaders: Record<string, string> | null;
  responseBody: Buffer | null;
  responseTruncated: boolean;
  notifyState: JobNotifyState | null;
  notifyStatusCode: number | null;
  notifyError: string | null;
  finishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const jobColumns = {
  id: jobs.id,
  userId: jobs.userId,
  url: jobs.url,
  method: jobs.method,
  headers: jobs.headers,
  body: jobs.body,
  callbackUrl: jobs.callbackUrl,
  timeoutMs: jobs.timeoutMs,
  retryPolicy: jobs.retryPolicy,
  callbackRetryPolicy: jobs.callbackRetryPolicy,
  acceptedStatuses: jobs.acceptedStatuses,
  state: jobs.state,
  attempts: jobs.attempts,
  lastStatusCode: jobs.lastStatusCode,
  lastError: jobs.lastError,
  responseHeaders: jobs.responseHeaders,
  responseBody: jobs.responseBody,
  responseTruncated: jobs.responseTruncated,
  notifyState: jobs.notifyState,
  notifyStatusCode: jobs.notifyStatusCode,
  notifyError: jobs.notifyError,
  finishedAt: jobs.finishedAt,
  createdAt: jobs.createdAt,
  updatedAt: jobs.updatedAt,
};

/** A position in the newest-first order of jobs: creation time, then id. */
export function jobCursor(job: Pick<Job, 'createdAt' | 'id'>): string {
  return encodeKeysetCursor({ at: job.createdAt, id: job.id });
}
