import { isIP } from 'node:net';
import { type Database, deliveries, jobs, users } from '@switchboard/db';
import { and, asc, desc, eq, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import type { DeliveriesService } from '../delivery/deliveries-service.ts';
import type { DeliveryAttempt } from '../delivery/delivery-record.ts';
import { loggableUrl } from '../delivery/subscription-definition.ts';
import { generateSigningSecret } from '../delivery/subscription-record.ts';
import type { SsrfGuard } from '../outbound/ssrf-guard.ts';
import { toFieldProblems } from '../queues/queue-definition.ts';
import type { Clock } from '../shared/clock.ts';
import { isUuid } from '../shared/crypto.ts';
import { decodeKeysetCursor } from '../shared/cursor.ts';
import { instantProblems } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import { buildCallbackBody } from './job-callback.ts';
import { type JobDefinition, jobDefinitionSchema, MAX_JOB_BODY_BYTES } from './job-definition.ts';
import { type Job, jobColumns } from './job-record.ts';

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
}

const UNFINISHED: readonly Job['state'][] = ['accepted', 'running', 'retrying'];

/** A job's body is stored as bytes, where a NUL is harmless; everything else is text or jsonb. */
const JOB_BYTES_FIELDS = new Set(['body', 'bodyBase64']);

/**
 * HTTP jobs: a client's own request that Switchboard makes for it, with retries, then reports to
 * its callback URL. The request and the callback are deliveries sent by the delivery worker.
 * Members see and change only their own jobs; admins everyone's.
 */
export class JobsService {
  constructor(private readonly deps: JobsServiceDeps) {}

  /** A job of the actor's own; an admin (or the command line) may give `userId` to create one for that user. */
  async create(actor: Principal, definition: JobDefinition, options: { userId?: string } = {}): Promise<Result<Job>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Creating jobs needs the jobs:write scope');
    const owner = options.userId ?? actor.user.id;
    if (owner !== actor.user.id && !isAdmin(actor))
      return fail('FORBIDDEN', 'Only admins can create jobs for other users');
    if (actor.via === 'system' && owner === actor.user.id) return fail('INVALID', 'Jobs belong to a user: give userId');
    if (owner !== actor.user.id) {
      const [exists] = isUuid(owner)
        ? await this.deps.db.select({ id: users.id }).from(users).where(eq(users.id, owner))
        : [];
      if (!exists) return fail('NOT_FOUND', 'No such user');
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
      const [row] = await tx
        .insert(jobs)
        .values({
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
        })
        .returning(jobColumns);
      const inserted = row as Job;
      await tx
        .insert(deliveries)
        .values({ kind: 'job', jobId: inserted.id, nextAttemptAt: now, createdAt: now, updatedAt: now });
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
    const conditions: SQL[] = [];
    if (!isAdmin(actor)) conditions.push(eq(jobs.userId, actor.user.id));
    if (filter.state?.length) conditions.push(inArray(jobs.state, [...filter.state]));
    if (filter.since) conditions.push(gte(jobs.createdAt, filter.since));
    if (filter.until) conditions.push(lt(jobs.createdAt, filter.until));
    for (const [cursor, older] of [
      [page.after, true],
      [page.before, false],
    ] as const) {
      if (cursor === undefined) continue;
      const position = decodeKeysetCursor(cursor);
      if (!position) {
        return fail('INVALID', 'Not a job cursor', {
          fields: [{ path: older ? 'after' : 'before', message: 'is not a job cursor' }],
        });
      }
      const { id } = position;
      const at = position.at.toISOString();
      conditions.push(
        older
          ? sql`(${jobs.createdAt}, ${jobs.id}) < (${at}::timestamptz, ${id}::uuid)`
          : sql`(${jobs.createdAt}, ${jobs.id}) > (${at}::timestamptz, ${id}::uuid)`,
      );
    }
    const rows = await this.deps.db
      .select(jobColumns)
      .from(jobs)
      .where(and(...conditions))
      .orderBy(...(page.inverted ? [asc(jobs.createdAt), asc(jobs.id)] : [desc(jobs.createdAt), desc(jobs.id)]))
      .limit(page.limit);
    return ok(rows as Job[]);
  }

  /**
   * Stops a job that has not ended: it is not tried again, and its callback (if any) is told it was
   * cancelled. An attempt already under way runs to its end, but does not change the job.
   */
  async cancel(actor: Principal, id: string): Promise<Result<Job>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Cancelling jobs needs the jobs:write scope');
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No job with that id exists');
    const now = this.deps.clock.now();
    const cancelled = await this.deps.db.transaction(async (tx) => {
      // The request's delivery first, then the job: the order a worker's claim takes them in, so
      // that the two never wait on each other.
      await tx
        .select({ id: deliveries.id })
        .from(deliveries)
        .where(and(eq(deliveries.jobId, id), eq(deliveries.kind, 'job')))
        .for('update');
      const [row] = await tx
        .update(jobs)
        .set({
          state: 'cancelled',
          finishedAt: now,
          updatedAt: now,
          ...(current.callbackUrl ? { notifyState: 'pending' as const } : {}),
        })
        .where(and(eq(jobs.id, id), inArray(jobs.state, [...UNFINISHED])))
        .returning(jobColumns);
      if (!row) return null;
      const job = row as Job;
      await tx
        .update(deliveries)
        .set({
          status: 'cancelled',
          nextAttemptAt: null,
          completedAt: now,
          updatedAt: now,
          lastError: 'the job was cancelled',
        })
        .where(and(eq(deliveries.jobId, id), eq(deliveries.kind, 'job'), eq(deliveries.status, 'pending')));
      if (job.callbackUrl) {
        const body = buildCallbackBody({
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
        });
        await tx
          .insert(deliveries)
          .values({ kind: 'callback', jobId: id, body, nextAttemptAt: now, createdAt: now, updatedAt: now });
      }
      return job;
    });
    if (!cancelled) return fail('CONFLICT', `The job has already ended (${current.state})`);
    this.deps.logger.info({ jobId: id, by: actor.user.id }, 'job cancelled');
    await this.changed(id);
    if (cancelled.callbackUrl) this.deps.onDeliveriesDue?.();
    return ok(cancelled);
  }

  /** Every attempt of each job's request, oldest first (for jobs the caller may already see). */
  async attemptsOf(jobIds: readonly string[]): Promise<Map<string, DeliveryAttempt[]>> {
    const map = new Map<string, DeliveryAttempt[]>(jobIds.map((id) => [id, []]));
    if (jobIds.length === 0) return map;
    const requests = await this.deps.db
      .select({ id: deliveries.id, jobId: deliveries.jobId })
      .from(deliveries)
      .where(and(inArray(deliveries.jobId, [...jobIds]), eq(deliveries.kind, 'job')));
    const attempts = await this.deps.deliveries.attemptsOf(requests.map((r) => r.id));
    for (const request of requests) {
      if (request.jobId) map.set(request.jobId, attempts.get(request.id) ?? []);
    }
    return map;
  }

  /** The secret that signs the caller's job callbacks (Standard Webhooks, `whsec_`). */
  async signingSecret(actor: Principal): Promise<Result<string>> {
    if (!mayRead(actor)) return fail('FORBIDDEN', 'Reading the callback signing secret needs the jobs:read scope');
    const [row] = await this.deps.db
      .select({ secret: users.signingSecret })
      .from(users)
      .where(eq(users.id, actor.user.id));
    return row ? ok(row.secret) : fail('NOT_FOUND', 'No such user');
  }

  /** A new callback signing secret; callbacks sent from now on use it. */
  async rotateSigningSecret(actor: Principal): Promise<Result<string>> {
    if (!hasScope(actor, 'jobs:write')) return fail('FORBIDDEN', 'Needs the jobs:write scope');
    const secret = generateSigningSecret({ scheme: 'standard-webhooks' });
    const [row] = await this.deps.db
      .update(users)
      .set({ signingSecret: secret, updatedAt: this.deps.clock.now() })
      .where(eq(users.id, actor.user.id))
      .returning({ id: users.id });
    if (!row) return fail('NOT_FOUND', 'No such user');
    this.deps.logger.info({ userId: actor.user.id }, 'callback signing secret rotated');
    return ok(secret);
  }

  /** Someone else's job is reported as missing, so that ids cannot be probed. */
  async find(actor: Principal, id: string): Promise<Job | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.deps.db
      .select(jobColumns)
      .from(jobs)
      .where(isAdmin(actor) ? eq(jobs.id, id) : and(eq(jobs.id, id), eq(jobs.userId, actor.user.id)));
    return (row as Job | undefined) ?? null;
  }

  /** Tells job-update streams in every process. */
  private async changed(id: string): Promise<void> {
    await this.deps.pubsub.notify(CHANNELS.jobUpdates, JSON.stringify([id]));
  }
}

function mayRead(actor: Principal): boolean {
  return hasScope(actor, 'jobs:read') || hasScope(actor, 'jobs:write');
}
