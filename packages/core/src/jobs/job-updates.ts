import type { Database } from '@switchboard/db';
import type { Principal } from '../access/principal.ts';
import { DeliveryStore } from '../delivery/delivery-store.ts';
import { type JobId, parseDeliveryIdList, parseIdList } from '../shared/ids.ts';
import { LiveFeed, parseIds } from '../shared/live-feed.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
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
  private readonly feed: LiveFeed<JobId, Job>;
  private readonly store: JobStore;

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; jobs: JobsService }) {
    const store = new JobStore(deps.db);
    const deliveries = new DeliveryStore(deps.db);
    /** The listened jobs among these, as they are now. */
    const listenedJobs = (ids: JobId[], listened: (id: JobId) => boolean) => store.byIds(ids.filter(listened));
    this.store = store;
    this.feed = new LiveFeed({
      pubsub: deps.pubsub,
      logger: deps.logger,
      name: 'job updates',
      channels: [
        {
          channel: CHANNELS.jobUpdates,
          changed: (payload, listened) => listenedJobs(parseIdList<JobId>(parseIds(payload, 'string')), listened),
        },
        {
          channel: CHANNELS.deliveryUpdates,
          changed: async (payload, listened) =>
            listenedJobs(await deliveries.jobsOf(parseDeliveryIdList(parseIds(payload, 'number'))), listened),
        },
      ],
      route: { keyOf: (job) => job.id },
      buffer: 100,
    });
  }

  start(): Promise<void> {
    return this.feed.start();
  }

  stop(): Promise<void> {
    return this.feed.stop();
  }

  /** Checks before the stream starts that the caller may see the job, so that a refusal is a plain error. */
  async open(actor: Principal, jobId: string): Promise<Result<Job>> {
    return this.deps.jobs.get(actor, jobId);
  }

  /** The job as it is now, then every change of it, until `signal` aborts. */
  follow(job: Job, signal: AbortSignal): AsyncGenerator<Job> {
    return this.feed.follow(job.id, signal, {
      current: async () => (await this.store.byIds([job.id]))[0] ?? job,
    });
  }
}
