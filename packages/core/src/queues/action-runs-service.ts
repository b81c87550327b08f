import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import type { QueueId } from '../shared/ids.ts';
import { LiveFeed, parseIds } from '../shared/live-feed.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { type ActionRunRow, ActionRunStore, runKey } from './actions/action-run-store.ts';
import type { Queue, QueuesService } from './queues-service.ts';
import { type RejectedMessage, RejectedStore } from './rejected-store.ts';

export interface MessageRun {
  queueId: QueueId;
  seq: number;
  /** pending, running, succeeded, failed; `none` when the message's actions never ran. */
  status: string;
  error: string | null;
  actions: ActionRunRow[];
}

/**
 * A message's action runs and a queue's refused requests, for people, with a live feed of runs
 * as they change (written by the runner, the inline runs, re-runs, and the outcomes of the
 * requests actions owe). Runs show what actions printed, which may quote the message or the
 * host: only admins, who write actions, see them, and only they run actions again.
 */
export class ActionRunsService {
  private readonly runs: ActionRunStore;
  private readonly rejected: RejectedStore;
  private readonly feed: LiveFeed<string, MessageRun>;

  constructor(
    private readonly deps: { db: Database; clock: Clock; logger: Logger; pubsub: PubSub; queues: QueuesService },
  ) {
    this.runs = new ActionRunStore(deps.db);
    this.rejected = new RejectedStore(deps.db);
    const load = async (keys: string[], listened: (key: string) => boolean) => {
      const wanted = [...new Set(keys)].filter(listened);
      const found = await Promise.all(
        wanted.map((key) => {
          const at = key.lastIndexOf(':');
          return this.load(key.slice(0, at) as QueueId, Number(key.slice(at + 1)));
        }),
      );
      return found;
    };
    this.feed = new LiveFeed({
      pubsub: deps.pubsub,
      logger: deps.logger,
      name: 'action runs',
      channels: [
        { channel: CHANNELS.actionRuns, changed: (payload, listened) => load(parseIds(payload, 'string'), listened) },
        {
          channel: CHANNELS.deliveryUpdates,
          changed: async (payload, listened) =>
            load(await this.runs.keysOfDeliveries(parseIds(payload, 'number')), listened),
        },
      ],
      route: { keyOf: (run) => runKey(run.queueId, run.seq) },
      buffer: 100,
    });
  }

  start(): Promise<void> {
    return this.feed.start();
  }

  stop(): Promise<void> {
    return this.feed.stop();
  }

  async find(actor: Principal, queueName: string, seq: number): Promise<Result<MessageRun>> {
    const queue = await this.adminQueue(actor, queueName, 'see action runs');
    if (!queue.ok) return queue;
    return ok(await this.load(queue.value.id, seq));
  }

  /** For a message already shown to the caller: null for anyone but an admin. */
  async forMessage(actor: Principal, queueId: QueueId, seq: number): Promise<MessageRun | null> {
    return isAdmin(actor) ? this.load(queueId, seq) : null;
  }

  async rerun(actor: Principal, queueName: string, seq: number): Promise<Result<MessageRun>> {
    const queue = await this.adminQueue(actor, queueName, 'run actions again');
    if (!queue.ok) return queue;
    if (!Number.isSafeInteger(seq) || seq < 1) return fail('INVALID', 'seq must be a message sequence number');
    const queued = await this.runs.rerun(queue.value.id, seq, this.deps.clock.now());
    if (queued === 'gone') return fail('NOT_FOUND', `Queue "${queueName}" has no message ${seq}`);
    if (queued === 'running')
      return fail('CONFLICT', `The actions of message ${seq} are running now; run them again once they end`);
    await this.deps.pubsub.notify(CHANNELS.runs, queue.value.id);
    return ok(await this.load(queue.value.id, seq));
  }

  /** Checks before a stream starts that the caller may see the runs, so that a refusal is a plain error. */
  async open(actor: Principal, queueName: string, seq: number): Promise<Result<MessageRun>> {
    return this.find(actor, queueName, seq);
  }

  /** The run as it is now, then again on every change, until `signal` aborts. */
  follow(run: MessageRun, signal: AbortSignal): AsyncGenerator<MessageRun> {
    return this.feed.follow(runKey(run.queueId, run.seq), signal, { current: () => this.load(run.queueId, run.seq) });
  }

  async rejections(
    actor: Principal,
    queueName: string,
    limit: number,
    before?: number,
  ): Promise<Result<RejectedMessage[]>> {
    const queue = await this.adminQueue(actor, queueName, 'see refused requests');
    if (!queue.ok) return queue;
    return ok(await this.rejected.list(queue.value.id, Math.min(Math.max(limit, 1), 200), before));
  }

  private async load(queueId: QueueId, seq: number): Promise<MessageRun> {
    const found = await this.runs.find(queueId, seq);
    return {
      queueId,
      seq,
      status: found?.status ?? 'none',
      error: found?.error ?? null,
      actions: found?.actions ?? [],
    };
  }

  private async adminQueue(actor: Principal, name: string, what: string): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', `Only admins can ${what}`);
    return this.deps.queues.getByName(actor, name);
  }
}
