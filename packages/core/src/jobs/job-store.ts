import { type Database, type Executor, jobs } from '@switchboard/db';
import { and, asc, desc, eq, gte, inArray, lt, type SQL } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import { isUuid } from '../shared/crypto.ts';
import { keysetConditions } from '../shared/cursor.ts';
import { type Job, jobColumns } from './job-record.ts';

type NewJob = typeof jobs.$inferInsert;

export interface JobListFilter {
  state?: readonly Job['state'][] | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

const UNFINISHED: readonly Job['state'][] = ['accepted', 'running', 'retrying'];

/**
 * The `jobs` table's one owner. A job's state also moves with its request's outcomes, in the same
 * statement as they are recorded (packages/db/sql/complete_deliveries.sql and claim_deliveries.sql).
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
  async find(actor: Principal, id: string): Promise<Job | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.db
      .select(jobColumns)
      .from(jobs)
      .where(and(eq(jobs.id, id), this.visibleTo(actor)));
    return (row as Job | undefined) ?? null;
  }

  /** As they are now, whoever owns them. */
  async byIds(ids: readonly string[]): Promise<Job[]> {
    if (ids.length === 0) return [];
    return (await this.db
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

  /** Ends a job that has not ended as cancelled; null when it had ended already. */
  async cancel(db: Executor, id: string, now: Date, notify: boolean): Promise<Job | null> {
    const [row] = await db
      .update(jobs)
      .set({
        state: 'cancelled',
        finishedAt: now,
        updatedAt: now,
        ...(notify ? { notifyState: 'pending' as const } : {}),
      })
      .where(and(eq(jobs.id, id), inArray(jobs.state, [...UNFINISHED])))
      .returning(jobColumns);
    return (row as Job | undefined) ?? null;
  }
}
