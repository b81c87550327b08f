import type { Database } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { type CompletionRecord, performAttempt } from './delivery-attempt.ts';
import { type ClaimedDelivery, claimDeliveries, completeDeliveries, findNextDue } from './delivery-store.ts';
import type { HttpSender } from './http-sender.ts';
import { RateLimiter } from './rate-limiter.ts';

export interface DeliveryWorkerOptions {
  /** Requests in flight at once. */
  concurrency?: number;
  /** A claim lasts the subscription's timeout plus this; then another worker may take it over. */
  leaseMarginMs?: number;
  /** The longest the worker sleeps without looking, when nothing is due and nobody notifies. */
  idlePollMs?: number;
  /** Only this event's deliveries (the CLI's `trigger`). */
  eventId?: string;
}

export interface DeliveryWorkerDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  sender: HttpSender;
  /** Subscriptions the worker disabled (410 Gone, too many failures): publish `subscription.disabled`. */
  onSubscriptionsDisabled?: (disabled: Array<{ subscriptionId: string; reason: string }>) => Promise<void>;
  /** Told of every outcome once it is recorded (metrics). */
  observe?: (record: CompletionRecord) => void;
}

const MAX_COMPLETION_BATCH = 500;

/**
 * Claims due deliveries in batches (FOR UPDATE SKIP LOCKED, with a lease), sends them with bounded
 * concurrency, and records outcomes in batches: a request that finishes while a batch is being
 * written waits for the next one and shares it. LISTEN/NOTIFY wakes it when work arrives; retries
 * that fall due later wake it by a timer set to the next due time.
 */
export class DeliveryWorker {
  private running = false;
  private claiming = false;
  private wantClaim = false;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private pending: Array<{ record: CompletionRecord; done: (error?: unknown) => void }> = [];
  private flushing: Promise<void> | null = null;
  private readonly limiter: RateLimiter;
  private readonly concurrency: number;
  private readonly leaseMarginMs: number;
  private readonly idlePollMs: number;

  constructor(
    private readonly deps: DeliveryWorkerDeps,
    private readonly options: DeliveryWorkerOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 64;
    this.leaseMarginMs = options.leaseMarginMs ?? 10_000;
    this.idlePollMs = options.idlePollMs ?? 5_000;
    this.limiter = new RateLimiter();
  }

  get active(): number {
    return this.inFlight;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.deliveries, () => this.wake());
    this.wake();
  }

  /** Stops claiming, lets the requests in flight finish (each within its timeout) and records them. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.unlisten?.();
    this.unlisten = undefined;
    while (this.inFlight > 0 || this.claiming) await new Promise((r) => setTimeout(r, 10));
    await this.flushing;
  }

  /** Look for due work now (a publish in this process, a notification, a timer). */
  wake(): void {
    if (!this.running) return;
    if (this.claiming) {
      this.wantClaim = true;
      return;
    }
    void this.claimLoop();
  }

  /**
   * One claim of up to `limit` due deliveries, each sent and recorded before this resolves. The
   * loop does the same on its own; tests with a clock of their own call this instead.
   */
  async runOnce(limit = this.concurrency): Promise<number> {
    const batch = await this.claim(limit);
    await Promise.all(batch.map((delivery) => this.process(delivery)));
    return batch.length;
  }

  private async claimLoop(): Promise<void> {
    this.claiming = true;
    try {
      do {
        this.wantClaim = false;
        const free = this.concurrency - this.inFlight;
        if (free <= 0) break;
        const batch = await this.claim(free);
        for (const delivery of batch) {
          this.inFlight++;
          void this.process(delivery).finally(() => {
            this.inFlight--;
            this.wake();
          });
        }
        if (batch.length === free) this.wantClaim = true;
        else if (batch.length === 0 && !this.wantClaim) await this.sleepUntilDue();
      } while (this.running && this.wantClaim);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'claiming deliveries failed; trying again in a second');
      this.setTimer(1000);
    } finally {
      this.claiming = false;
    }
  }

  private claim(limit: number): Promise<ClaimedDelivery[]> {
    return claimDeliveries(this.deps.db, {
      now: this.deps.clock.now(),
      limit,
      leaseMarginMs: this.leaseMarginMs,
      eventId: this.options.eventId,
    });
  }

  private async sleepUntilDue(): Promise<void> {
    const due = await findNextDue(this.deps.db);
    const wait = due ? due.getTime() - this.deps.clock.now().getTime() : this.idlePollMs;
    this.setTimer(Math.max(0, Math.min(wait, this.idlePollMs)));
  }

  private setTimer(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref();
  }

  private async process(delivery: ClaimedDelivery): Promise<void> {
    const now = this.deps.clock.now();
    const skipped = {
      id: delivery.deliveryId,
      n: delivery.attempt,
      sub: delivery.subscription.id,
      rec: false,
      ok: false,
      t: now.toISOString(),
      dur: 0,
      sc: null,
      h: null,
      b: null,
      tr: false,
      gone: false,
    };
    let record: CompletionRecord;
    if (!delivery.enabled) {
      record = { ...skipped, st: 'failed', nxt: null, err: 'not sent: the subscription is disabled' };
    } else {
      const waitMs = this.limiter.reserve(
        delivery.subscription.id,
        delivery.rateLimitPerSecond,
        now.getTime(),
        delivery.deliveryId,
      );
      if (waitMs > 0) {
        record = { ...skipped, st: 'pending', nxt: new Date(now.getTime() + waitMs).toISOString(), err: null };
      } else {
        record = (await performAttempt(delivery, { sender: this.deps.sender, now: () => this.deps.clock.now() }))
          .record;
      }
    }
    try {
      await this.complete(record);
    } catch (error) {
      // The lease runs out and the delivery is tried again: at least once, never lost.
      this.deps.logger.error({ err: error, deliveryId: delivery.deliveryId }, 'recording a delivery attempt failed');
    }
  }

  /** Group commit: resolves once the batch holding this record is written. */
  private complete(record: CompletionRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.flushing) this.flushing = this.flush().finally(() => (this.flushing = null));
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_COMPLETION_BATCH);
      try {
        const disabled = await completeDeliveries(
          this.deps.db,
          this.deps.clock.now(),
          batch.map((b) => b.record),
        );
        if (disabled.length > 0) {
          for (const d of disabled) this.deps.logger.warn(d, 'subscription disabled');
          // Announced before the batch counts as done, so that whoever waits for it sees the notice.
          await this.deps
            .onSubscriptionsDisabled?.(disabled)
            .catch((error) => this.deps.logger.error({ err: error }, 'announcing disabled subscriptions failed'));
        }
        for (const item of batch) {
          this.deps.observe?.(item.record);
          item.done();
        }
      } catch (error) {
        for (const item of batch) item.done(error);
      }
    }
  }
}
