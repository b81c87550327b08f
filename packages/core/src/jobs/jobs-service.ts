import { isIP } from 'node:net';
import type { Database } from '@switchboard/db';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import type { DeliveriesService } from '../delivery/deliveries-service.ts';
import type { DeliveryAttempt } from '../delivery/delivery-record.ts';
import { loggableUrl } from '../delivery/subscription-definition.ts';
import { generateSigningSecret } from '../delivery/subscription-record.ts';
import { enqueueDeliveries, failPendingDeliveries, lockJobRequest } from '../outbound/outbound-store.ts';
import type { SsrfGuard } from '../outbound/ssrf-guard.ts';
import { toFieldProblems } from '../queues/queue-definition.ts';
import type { Clock } from '../shared/clock.ts';
import { type JobId, parseId, type UserId } from '../shared/ids.ts';
import { instantProblems } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import { callbackFor } from './job-callback.ts';
import { type JobDefinition, jobDefinitionSchema, MAX_JOB_BODY_BYTES } from './job-definition.ts';
import type { Job } from './job-record.ts';
import { JobStore } from './job-store.ts';

export interface JobFilter {
  state?: readonly Job['state'][] | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

export interface JobPage {
  /** Cursors from `jobCursor`; pages run newest first. */
  after?: string | undefined;
  before?: string | undefined;
  limit: number;
  inverted?: boolean;
}

export interface JobsServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  guard: SsrfGuard;
  deliveries: DeliveriesService;
  /** A job's request or callback was written: wake the workers. */
  onDeliveriesDue?: () => void;
  /** Job owners' accounts and the secrets that sign their callbacks (the user store). */
  owners: JobOwners;
}

export interface JobOwners {
  exists(userId: UserId): Promise<boolean>;
  signingSecretOf(userId: UserId): Promise<string | null>;
  /** False when the user is gone. */
  setSigningSecret(userId: UserId, secret: string, at: Date): Promise<boolean>;
}

/** A job's body is stored as bytes, where a NUL is harmless; everything else is text or jsonb. */
const JOB_BYTES_FIELDS = new Set(['body', 'bodyBase64']);

/**
 * HTTP jobs: a client's own request that Switchboard makes for it, with retries, then reports to
 * its callback URL. The request and the callback are deliveries sent by the delivery worker.
 * Members see and change only their own jobs; admins everyone's.
 */
export class JobsService {
  private readonly store: JobStore;

  constructor(private readonly deps: JobsServiceDeps) {
    this.store = new JobStore(deps.db);
  }

  /** A job of the actor's own; an admin (or the command line) may give `userId` to create one for that user. */
  async create(actor: Principal, definition: JobDefinition, options: { userId?: string } = {}): Promise<Result<Job>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Creating jobs needs the jobs:write scope');
    const requested = options.userId ?? actor.user.id;
    if (requested !== actor.user.id && !isAdmin(actor))
      return fail('FORBIDDEN', 'Only admins can create jobs for other users');
    if (actor.via === 'system' && requested === actor.user.id) {
      return fail('INVALID', 'Jobs belong to a user: give userId');
    }
    let owner = actor.user.id;
    if (requested !== actor.user.id) {
      const other = parseId<UserId>(requested);
      if (!other || !(await this.deps.owners.exists(other))) return fail('NOT_FOUND', 'No such user');
      owner = other;
    }
    const parsed = jobDefinitionSchema.safeParse(definition);
    const both = definition.body != null && definition.bodyBase64 != null;
    const conflict = both ? [{ path: 'body', message: 'give body or bodyBase64, not both' }] : [];
    if (!parsed.success || both) {
      const fields = [...(parsed.success ? [] : toFieldProblems(parsed.error)), ...conflict];
      return fail('INVALID', 'The job is not valid', { fields });
    }
    const job = parsed.data;
    // Headers, URLs and policies are stored as text and jsonb, which cannot hold a NUL; the body is bytes.
    const nul = findNul(job, '', JOB_BYTES_FIELDS);
    const fields: Array<{ path: string; message: string }> = nul ? [nul] : [];
    for (const [path, url] of [
      ['url', job.url],
      ['callbackUrl', job.callbackUrl],
    ] as const) {
      const host = url ? new URL(url).hostname.replace(/^\[|\]$/g, '') : '';
      const refused = isIP(host) ? this.deps.guard.checkAddress(host) : null;
      if (refused) fields.push({ path, message: refused });
    }
    const body =
      job.bodyBase64 != null ? Buffer.from(job.bodyBase64, 'base64') : job.body != null ? Buffer.from(job.body) : null;
    if (body && body.length > MAX_JOB_BODY_BYTES) {
      fields.push({ path: 'body', message: `must be at most ${MAX_JOB_BODY_BYTES} bytes` });
    }
    if (fields.length > 0) return fail('INVALID', 'The job is not valid', { fields });
    const now = this.deps.clock.now();
    const created = await this.deps.db.transaction(async (tx) => {
      const inserted = await this.store.insert(tx, {
        userId: owner,
        url: job.url,
        method: job.method,
        headers: job.headers,
        body,
        callbackUrl: job.callbackUrl ?? null,
        timeoutMs: job.timeoutMs,
        retryPolicy: job.retryPolicy,
        callbackRetryPolicy: job.callbackRetryPolicy,
        acceptedStatuses: job.acceptedStatuses ?? null,
        createdAt: now,
        updatedAt: now,
      });
      await enqueueDeliveries(tx, [{ kind: 'job', jobId: inserted.id, lane: owner, timeoutMs: job.timeoutMs }], now);
      return inserted;
    });
    this.deps.logger.info({ jobId: created.id, url: loggableUrl(created.url), by: actor.user.id }, 'job accepted');
    await this.changed(created.id);
    this.deps.onDeliveriesDue?.();
    return ok(created);
  }

  async get(actor: Principal, id: string): Promise<Result<Job>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading jobs needs the jobs:read scope');
    const job = await this.find(actor, id);
    return job ? ok(job) : fail('NOT_FOUND', 'No job with that id exists');
  }

  /** Newest first. */
  async list(actor: Principal, filter: JobFilter, page: JobPage): Promise<Result<Job[]>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading jobs needs the jobs:read scope');
    const problems = instantProblems({ since: filter.since, until: filter.until });
    if (problems.length > 0) return fail('INVALID', 'The time range is not valid', { fields: problems });
    const listed = await this.store.list(actor, filter, page);
    if ('invalid' in listed) {
      return fail('INVALID', 'Not a job cursor', {
        fields: [{ path: listed.invalid, message: 'is not a job cursor' }],
      });
    }
    return ok(listed.rows);
  }

  /**
   * Stops a job that has not ended: it is not tried again, and its callback (if any) is told it was
   * cancelled. An attempt already under way runs to its end, but does not change the job.
   */
  async cancel(actor: Principal, rawId: string): Promise<Result<Job>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Cancelling jobs needs the jobs:write scope');
    const current = await this.find(actor, rawId);
    if (!current) return fail('NOT_FOUND', 'No job with that id exists');
    const id = current.id;
    const now = this.deps.clock.now();
    const cancelled = await this.deps.db.transaction(async (tx) => {
      // The request's delivery first, then the job: the order a worker's claim and completion take
      // them in, so that the two never wait on each other. With the request locked, no outcome
      // changes the job's last response until this commits.
      await lockJobRequest(tx, id);
      const [job] = await this.store.byIds([id], tx);
      if (!job) return null;
      const callback = job.callbackUrl
        ? callbackFor({
            jobId: job.id,
            state: 'cancelled',
            attempts: job.attempts,
            url: job.url,
            method: job.method,
            finishedAt: now,
            response:
              job.lastStatusCode === null
                ? null
                : {
                    status: job.lastStatusCode,
                    headers: job.responseHeaders ?? {},
                    body: job.responseBody,
                    truncated: job.responseTruncated,
                  },
            error: job.lastError,
          })
        : null;
      const ended = await this.store.end(tx, [{ jobId: id, state: 'cancelled', callback }], now);
      if (ended.length === 0) return null;
      await failPendingDeliveries(
        tx,
        { jobRequestOf: id },
        { status: 'cancelled', error: 'the job was cancelled', now },
      );
      const [after] = await this.store.byIds([id], tx);
      return after ?? null;
    });
    if (!cancelled) return fail('CONFLICT', `The job has already ended (${current.state})`);
    this.deps.logger.info({ jobId: id, by: actor.user.id }, 'job cancelled');
    await this.changed(id);
    if (cancelled.callbackUrl) this.deps.onDeliveriesDue?.();
    return ok(cancelled);
  }

  /** Every attempt of each job's request, oldest first (for jobs the caller may already see). */
  async attemptsOf(jobIds: readonly JobId[]): Promise<Map<JobId, DeliveryAttempt[]>> {
    return this.deps.deliveries.attemptsOfJobs(jobIds);
  }

  /** The secret that signs the caller's job callbacks (Standard Webhooks, `whsec_`). */
  async signingSecret(actor: Principal): Promise<Result<string>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading the callback signing secret needs the jobs:read scope');
    const secret = await this.deps.owners.signingSecretOf(actor.user.id);
    return secret !== null ? ok(secret) : fail('NOT_FOUND', 'No such user');
  }

  /** A new callback signing secret; callbacks sent from now on use it. */
  async rotateSigningSecret(actor: Principal): Promise<Result<string>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Needs the jobs:write scope');
    const secret = generateSigningSecret({ scheme: 'standard-webhooks' });
    if (!(await this.deps.owners.setSigningSecret(actor.user.id, secret, this.deps.clock.now()))) {
      return fail('NOT_FOUND', 'No such user');
    }
    this.deps.logger.info({ userId: actor.user.id }, 'callback signing secret rotated');
    return ok(secret);
  }

  /** Someone else's job is reported as missing, so that ids cannot be probed (a malformed id too). */
  async find(actor: Principal, rawId: string): Promise<Job | null> {
    const id = parseId<JobId>(rawId);
    return id ? this.store.find(actor, id) : null;
  }

  /** Tells job-update streams in every process. */
  private async changed(id: JobId): Promise<void> {
    await this.deps.pubsub.notify(CHANNELS.jobUpdates, JSON.stringify([id]));
  }
}

function mayRead(actor: Principal): boolean {
  return hasScope(actor, 'jobs:read') || hasScope(actor, 'jobs:write');
}
