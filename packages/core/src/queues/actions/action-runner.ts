import type { Database } from '@switchboard/db';
import type { ClaimedDelivery } from '../../outbound/kind.ts';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/logger.ts';
import { CHANNELS, type PubSub } from '../../shared/pubsub.ts';
import type { CompiledQueue } from '../queue-registry.ts';
import { runChain } from './action-chain.ts';
import { leasedActionDelivery } from './action-request.ts';
import { ActionRunStore, type ClaimedRun, type RunEnd } from './action-run-store.ts';
import type { ActionServices } from './action-types.ts';
import { requestViewOf } from './request-view.ts';

export interface ActionRunnerDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  queues: { byId(id: string): CompiledQueue | undefined };
  services: ActionServices;
  /** Told when requests that actions owe were queued, so that the delivery worker looks. */
  onDeliveriesDue: () => void;
  /** This process's delivery worker while it runs: owed requests are handed to it already claimed. */
  localWorker?: () =>
    | { room: number; leaseMargin: number; adopt(deliveries: readonly ClaimedDelivery[]): void }
    | undefined;
}

export interface ActionRunnerOptions {
  /** Messages whose actions run at once (most wait on I/O: a claim of hundreds is cheaper than hundreds of claims). */
  concurrency?: number;
  /**
   * How long a claim holds a message: a runner that dies mid-list leaves it to be claimed again
   * after this. Longer than any one action may take (a command's timeout, a sleep).
   */
  leaseMs?: number;
  /** Longest wait between looks for due work when nothing wakes the runner. */
  idleMs?: number;
}

/**
 * Runs queues' actions in the worker, after their messages were stored and answered: claims due
 * runs (message_runs, written with their messages), runs each message's list from where it stands,
 * and records the outcomes in groups, one transaction each, as they finish. A failed action that may
 * succeed later is tried again on its retry schedule, from where the list stopped, with the context
 * the earlier actions left; requests that actions owe are handed to the outbound engine.
 */
export class ActionRunner {
  private readonly store: ActionRunStore;
  private readonly concurrency: number;
  private readonly leaseDurationMs: number;
  private reserved = 0;
  private readonly idleMs: number;
  private running = false;
  private inFlight = 0;
  private claiming = false;
  private ended: RunEnd[] = [];
  private writing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly abort = new AbortController();
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly deps: ActionRunnerDeps,
    options: ActionRunnerOptions = {},
  ) {
    this.store = new ActionRunStore(deps.db);
    this.concurrency = options.concurrency ?? 256;
    this.leaseDurationMs = options.leaseMs ?? 2 * 3_600_000;
    this.idleMs = options.idleMs ?? 5_000;
  }

  async start(): Promise<void> {
    this.running = true;
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.runs, () => this.wake());
    this.wake();
  }

  /** Stops claiming, aborts what runs (a sleep, a command) and records it; its lease lets another runner retry. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.unlisten?.();
    this.abort.abort();
    await this.settled();
  }

  /** Resolves once nothing is running or waiting to be recorded. */
  settled(): Promise<void> {
    if (this.inFlight === 0 && !this.claiming && this.ended.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idle.add(resolve));
  }

  wake(): void {
    if (!this.running || this.claiming) return;
    void this.fill();
  }

  /** How long a claim lasts; a run handed over by ingest is written claimed until then. */
  get leaseMs(): number {
    return this.leaseDurationMs;
  }

  /**
   * Room for one run that ingest in this process will hand over as soon as its message is
   * committed (see adopt); false when the runner is stopped or full, and the run is then left due
   * for any runner to claim.
   */
  tryReserve(): boolean {
    if (!this.running || this.inFlight + this.reserved >= this.concurrency) return false;
    this.reserved += 1;
    return true;
  }

  /** A reserved run that will not come (its message was not stored). */
  release(): void {
    this.reserved = Math.max(0, this.reserved - 1);
  }

  /** Runs a message written already claimed for this runner: the claim's round trip is saved. */
  adopt(run: ClaimedRun): void {
    this.reserved = Math.max(0, this.reserved - 1);
    if (!this.running) {
      // Stopped since ingest reserved it: the run is given back, due now, rather than left leased.
      this.ended.push({ ...run, steps: [], status: 'pending', dueAt: this.deps.clock.now(), error: null });
      this.flush();
      return;
    }
    this.inFlight += 1;
    void this.execute(run).then((end) => {
      this.inFlight -= 1;
      this.ended.push(end);
      this.flush();
    });
  }

  /**
   * Claims again once half the slots are free, not as each run ends: a burst is claimed and
   * recorded in batches of hundreds rather than one statement per message.
   */
  private refill(): void {
    if (this.inFlight <= this.concurrency / 2) this.wake();
  }

  private async fill(): Promise<void> {
    this.claiming = true;
    clearTimeout(this.timer);
    try {
      while (this.running && this.inFlight < this.concurrency) {
        const claimed = await this.store.claim(
          this.concurrency - this.inFlight,
          this.leaseDurationMs,
          this.deps.clock.now(),
        );
        if (claimed.length === 0) break;
        for (const run of claimed) {
          this.inFlight += 1;
          void this.execute(run).then((end) => {
            this.inFlight -= 1;
            this.ended.push(end);
            this.flush();
          });
        }
      }
      if (this.running) await this.scheduleNext();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'action runner could not claim work');
      if (this.running) this.timer = setTimeout(() => this.wake(), this.idleMs).unref();
    } finally {
      this.claiming = false;
      this.notifyIdle();
    }
  }

  private async scheduleNext(): Promise<void> {
    if (this.inFlight >= this.concurrency) return;
    const due = await this.store.nextDue();
    const wait = due
      ? Math.max(0, Math.min(this.idleMs, due.getTime() - this.deps.clock.now().getTime()))
      : this.idleMs;
    this.timer = setTimeout(() => this.wake(), wait).unref();
  }

  private async execute(run: ClaimedRun): Promise<RunEnd> {
    const now = () => this.deps.clock.now();
    const end = (status: RunEnd['status'], error: string | null, extra: Partial<RunEnd> = {}): RunEnd => ({
      queueId: run.queueId,
      seq: run.seq,
      body: run.body,
      steps: [],
      status,
      position: run.position,
      dueAt: now(),
      context: run.context,
      error,
      ...extra,
    });
    const queue = this.deps.queues.byId(run.queueId);
    if (!queue) return end('failed', 'the queue is gone');
    if (!queue.actions.ok) return end('failed', `the queue's actions cannot run: ${queue.actions.error.message}`);
    const actions = queue.actions.value;
    const current = actions[run.position];
    if (!current) return end('succeeded', null);
    if (run.attempts > current.retry.maxAttempts) {
      return end(
        'failed',
        `${current.name} gave up after ${current.retry.maxAttempts} attempts (a runner stopped during it)`,
      );
    }
    const outcome = await runChain(
      {
        actions,
        from: run.position,
        request: requestViewOf(queue, run),
        message: { id: `${queue.name}:${run.seq}`, sequence: run.seq, queue: queue.name },
        context: { values: run.context },
        mode: 'worker',
        signal: this.abort.signal,
      },
      this.deps.services,
    );
    const context = outcome.context.values;
    const failed = outcome.failed;
    if (!failed) return end('succeeded', null, { steps: outcome.steps, context, position: actions.length });
    const attempts = failed.position === run.position ? run.attempts : 1;
    const action = actions[failed.position];
    const message = `${failed.action} (action ${failed.position + 1}) failed: ${failed.error}`;
    if (failed.retryable && action && attempts < action.retry.maxAttempts && this.running) {
      const schedule = action.retry.scheduleMs;
      const delay = schedule[Math.min(attempts, schedule.length - 1)] ?? 0;
      return end('pending', message, {
        steps: outcome.steps,
        context,
        position: failed.position,
        dueAt: new Date(now().getTime() + delay),
      });
    }
    if (!this.running && failed.retryable) {
      // Stopped mid-action (the process is shutting down): due again at once, for whichever
      // runner is left or the next start, from where it stopped.
      return end('pending', message, { steps: outcome.steps, context, position: failed.position, dueAt: now() });
    }
    return end('failed', message, { steps: outcome.steps, context, position: failed.position });
  }

  private flush(): void {
    if (this.writing || this.ended.length === 0) {
      this.notifyIdle();
      return;
    }
    const batch = this.ended.splice(0);
    const now = this.deps.clock.now();
    // Owed requests go to this process's worker already claimed when it has room for them all,
    // saving the claim's round trip; otherwise any worker claims them.
    const worker = this.deps.localWorker?.();
    const owedCount = batch.reduce((n, end) => n + end.steps.filter((s) => s.owed).length, 0);
    const leaseFor =
      worker && owedCount > 0 && worker.room >= owedCount
        ? (timeoutMs: number) => new Date(now.getTime() + timeoutMs + worker.leaseMargin)
        : undefined;
    this.writing = this.store
      .record(batch, now, leaseFor)
      .then((owed) => {
        const leased = owed.filter((o) => o.leased);
        if (worker && leased.length > 0) worker.adopt(leased.map((o) => leasedActionDelivery(o, now)));
        if (owed.length > leased.length) this.deps.onDeliveriesDue();
        for (const end of batch) if (end.status === 'pending') this.wakeAt(end.dueAt);
      })
      .catch((error) => {
        // Not recorded: the claims' leases run out and the runs are taken up again.
        this.deps.logger.error({ err: error }, 'action runs could not be recorded');
      })
      .finally(() => {
        this.writing = null;
        this.flush();
        this.refill();
      });
  }

  private wakeAt(due: Date): void {
    const wait = due.getTime() - this.deps.clock.now().getTime();
    if (wait <= 0 || wait >= this.idleMs) return;
    setTimeout(() => this.wake(), wait).unref();
  }

  private notifyIdle(): void {
    if (this.inFlight > 0 || this.claiming || this.ended.length > 0 || this.writing) return;
    for (const resolve of this.idle) resolve();
    this.idle.clear();
  }
}
