import { type Database, type Executor, jobs, users } from '@switchboard/db';
import { and, asc, desc, eq, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import { keysetConditions } from '../shared/cursor.ts';
import { rowsOf } from '../shared/db-rows.ts';
import type { JobId } from '../shared/ids.ts';
import { type Job, jobColumns } from './job-record.ts';

type NewJob = typeof jobs.$inferInsert;

export interface JobListFilter {
  state?: readonly Job['state'][] | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/** How a job ends: its state, and its callback's body and timeout when it has a callback URL. */
export interface JobEnd {
  jobId: JobId;
  state: 'succeeded' | 'failed' | 'cancelled';
  callback: { body: Buffer; timeoutMs: number } | null;
}

/**
 * The `jobs` table's one owner. A job's state also moves with its request's outcomes, in the same
 * statement as they are recorded (packages/db/sql/complete_deliveries.sql), and a job ends by one
 * rule whoever ends it (packages/db/sql/end_jobs.sql).
 */
export class JobStore {
  constructor(private readonly db: Database) {}

  /** The jobs a caller may see: their own, or everyone's for admins. */
  visibleTo(actor: Principal): SQL | undefined {
    return isAdmin(actor) ? undefined : eq(jobs.userId, actor.user.id);
  }

  async insert(db: Executor, values: NewJob): Promise<Job> {
    const [row] = await db.insert(jobs).values(values).returning(jobColumns);
    return row as Job;
  }

  /** Someone else's job is missing to a member, so that ids cannot be probed. */
  async find(actor: Principal, id: JobId): Promise<Job | null> {
    const [row] = await this.db
      .select(jobColumns)
      .from(jobs)
      .where(and(eq(jobs.id, id), this.visibleTo(actor)));
    return (row as Job | undefined) ?? null;
  }

  /** As they are now, whoever owns them. */
  async byIds(ids: readonly JobId[], db: Executor = this.db): Promise<Job[]> {
    if (ids.length === 0) return [];
    return (await db
      .select(jobColumns)
      .from(jobs)
      .where(inArray(jobs.id, [...ids]))) as Job[];
  }

  /** Newest first, in keyset pages; `invalid` names a cursor this store did not write. */
  async list(
    actor: Principal,
    filter: JobListFilter,
    page: { after?: string | undefined; before?: string | undefined; limit: number; inverted?: boolean | undefined },
  ): Promise<{ rows: Job[] } | { invalid: 'after' | 'before' }> {
    const keyset = keysetConditions({ at: jobs.createdAt, id: jobs.id }, page);
    if ('invalid' in keyset) return keyset;
    const conditions = [this.visibleTo(actor), ...keyset.conditions];
    if (filter.state?.length) conditions.push(inArray(jobs.state, [...filter.state]));
    if (filter.since) conditions.push(gte(jobs.createdAt, filter.since));
    if (filter.until) conditions.push(lt(jobs.createdAt, filter.until));
    const rows = await this.db
      .select(jobColumns)
      .from(jobs)
      .where(and(...conditions))
      .orderBy(...(page.inverted ? [asc(jobs.createdAt), asc(jobs.id)] : [desc(jobs.createdAt), desc(jobs.id)]))
      .limit(page.limit);
    return { rows: rows as Job[] };
  }

  /**
   * Jobs end (those that have not ended yet), each with its callback queued when it has one: the
   * rule the delivery worker's completion follows too. Answers the jobs that ended.
   */
  async end(db: Executor, ends: readonly JobEnd[], now: Date): Promise<JobId[]> {
    if (ends.length === 0) return [];
    const batch = ends.map((end) => ({
      job: end.jobId,
      st: end.state,
      cb: end.callback ? end.callback.body.toString('base64') : null,
      cbt: end.callback?.timeoutMs ?? null,
    }));
    const result = await db.execute(
      sql`select out_job_id from switchboard_end_jobs(${now.toISOString()}::timestamptz, ${JSON.stringify(batch)}::jsonb)`,
    );
    return rowsOf(result).map((row) => String(row.out_job_id) as JobId);
  }

  /**
   * The jobs whose requests were just claimed, as they were (a cancelled one is not sent); those
   * waiting for an attempt are `running` from now on.
   */
  async startRequests(jobIds: readonly JobId[], now: Date) {
    const ids = `{${jobIds.join(',')}}`;
    const result = await this.db.execute(sql`
      with started as (
        update jobs set state = 'running', updated_at = ${now.toISOString()}::timestamptz
         where id = any (${ids}::uuid[]) and state in ('accepted', 'retrying')
      )
      select j.id, j.state, j.url, j.method, j.headers, j.body, j.timeout_ms, j.retry_policy, j.accepted_statuses,
             j.callback_url
        from jobs j
       where j.id = any (${ids}::uuid[])`);
    return rowsOf(result);
  }

  /** Where the callbacks of these jobs go, and the owner's secret that signs them. */
  callbackTargets(jobIds: readonly JobId[]) {
    return this.db
      .select({
        id: jobs.id,
        callbackUrl: jobs.callbackUrl,
        callbackRetryPolicy: jobs.callbackRetryPolicy,
        ownerSecret: users.signingSecret,
      })
      .from(jobs)
      .innerJoin(users, eq(users.id, jobs.userId))
      .where(inArray(jobs.id, [...jobIds]));
  }
}
