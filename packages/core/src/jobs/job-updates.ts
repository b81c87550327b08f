import type { Database } from '@switchboard/db';
import type { Principal } from '../access/principal.ts';
import { DeliveryStore } from '../delivery/delivery-store.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { PushQueue } from '../shared/push-queue.ts';
import type { Result } from '../shared/result.ts';
import type { Job } from './job-record.ts';
import { JobStore } from './job-store.ts';
import type { JobsService } from './jobs-service.ts';

/**
 * Live changes of jobs for graphql-ws: a job changes when it is created or cancelled (announced
 * by the jobs service) and when its request or callback has an outcome (announced by the workers
 * as delivery ids). One listener per process reads the changed jobs once for all subscribers.
 */
export class JobUpdates {
  private listeners = new Map<string, Set<(job: Job) => void>>();
  private unlisten: Array<() => Promise<void>> = [];

  private readonly store: JobStore;
  private readonly deliveries: DeliveryStore;

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; jobs: JobsService }) {
    this.store = new JobStore(deps.db);
    this.deliveries = new DeliveryStore(deps.db);
  }

  async start(): Promise<void> {
    this.unlisten.push(
      await this.deps.pubsub.listen(CHANNELS.jobUpdates, (payload) => {
        const ids = parseIds(payload).filter((id): id is string => typeof id === 'string');
        this.dispatch(ids).catch((error) => this.deps.logger.warn({ err: error }, 'reading job updates failed'));
      }),
      await this.deps.pubsub.listen(CHANNELS.deliveryUpdates, (payload) => {
        if (this.listeners.size === 0) return;
        const ids = parseIds(payload).map(Number).filter(Number.isSafeInteger);
        this.fromDeliveries(ids).catch((error) => this.deps.logger.warn({ err: error }, 'reading job updates failed'));
      }),
    );
  }

  async stop(): Promise<void> {
    for (const unlisten of this.unlisten.splice(0)) await unlisten();
  }

  /** Checks before the stream starts that the caller may see the job, so that a refusal is a plain error. */
  async open(actor: Principal, jobId: string): Promise<Result<Job>> {
    return this.deps.jobs.get(actor, jobId);
  }

  /** The job as it is now, then every change of it, until `signal` aborts. */
  async *follow(job: Job, signal: AbortSignal): AsyncGenerator<Job> {
    const queue = new PushQueue<Job>(100);
    const set = this.listeners.get(job.id) ?? new Set<(job: Job) => void>();
    this.listeners.set(job.id, set);
    set.add(queue.push);
    try {
      // A change committed after `job` was read, and announced before this listener existed,
      // reached nobody: start from the job as it is now that later changes reach this stream.
      const [current] = await this.store.byIds([job.id]);
      queue.first(current ?? job);
      yield* queue.drain(signal);
    } finally {
      set.delete(queue.push);
      if (set.size === 0) this.listeners.delete(job.id);
    }
  }

  private async fromDeliveries(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.dispatch(await this.deliveries.jobsOf(ids));
  }

  private async dispatch(jobIds: string[]): Promise<void> {
    const wanted = jobIds.filter((id) => this.listeners.has(id));
    if (wanted.length === 0) return;
    const rows = await this.store.byIds(wanted);
    for (const job of rows) for (const push of this.listeners.get(job.id) ?? []) push(job);
  }
}

function parseIds(payload: string): unknown[] {
  try {
    const parsed = JSON.parse(payload) as unknown;
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}
