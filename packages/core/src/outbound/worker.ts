import type { Database } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { EventId, JobId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { performAttempt } from './attempt.ts';
import { CompletionWriter, type CompletionWriterDeps } from './completion-writer.ts';
import type { HttpSender } from './http-sender.ts';
import type { ClaimedDelivery, OutboundKinds } from './kind.ts';
import { claimDeliveries, findNextDue } from './outbound-store.ts';
import { type AttemptOutcome, unsent } from './outcome.ts';
import { RateLimiter } from './rate-limiter.ts';
import { allowedAttempts } from './retry-policy.ts';
import { WorkerLanes } from './worker-lanes.ts';

export interface DeliveryWorkerOptions {
  /** Requests in flight at once. */
  concurrency?: number;
  /** A claim lasts the subscription's timeout plus this; then another worker may take it over. */
  leaseMarginMs?: number;
  /** The longest the worker sleeps without looking, when nothing is due and nobody notifies. */
  idlePollMs?: number;
  /** Only this event's deliveries (the CLI's `trigger`). */
  eventId?: EventId;
  /** Only this job's request and callback (the CLI's `jobs create --wait`). */
  jobId?: JobId;
  /** Deliveries claimed ahead of the requests in flight (default: 2 × concurrency). */
  prefetch?: number;
  /**
   * Requests in flight at once to one subscription that sets no maxInFlight, and to one user's
   * jobs (default: a quarter of the concurrency, at least 1), so that one endpoint that never
   * answers holds a quarter of the slots at most.
   */
  defaultMaxInFlight?: number;
}

/** Slots that must free up before finished work triggers another claim (see refill()). */
const REFILL_BATCH = 8;

export interface DeliveryWorkerDeps extends CompletionWriterDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  sender: HttpSender;
  /** The kinds of delivery this worker sends. */
  kinds: OutboundKinds;
}

/**
 * Claims due deliveries in batches (FOR UPDATE SKIP LOCKED, with a lease) a little ahead of what it
 * is sending, sends them with bounded concurrency, and hands each outcome to a CompletionWriter:
 * a request's slot is free again as soon as its answer is in, while outcomes are written in
 * batches behind it. LISTEN/NOTIFY wakes the worker when work arrives; retries that fall due later
 * wake it by a timer set to the next due time.
 */
export class DeliveryWorker {
  private running = false;
  private claiming = false;
  private wantClaim = false;
  private inFlight = 0;
  /** Claimed and waiting for a free slot. */
  private queue: Array<{ delivery: ClaimedDelivery; claimedAt: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly writer: CompletionWriter;
  private readonly limiter = new RateLimiter();
  private readonly concurrency: number;
  private readonly leaseMarginMs: number;
  private readonly idlePollMs: number;
  private readonly prefetch: number;
  /** Each lane's cap in flight, and half the prefetch claimed ahead of it. */
  private readonly lanes: WorkerLanes;
  /** Slots freed since the last claim began; see refill(). */
  private freedSinceClaim = 0;
  /** The last claim was put off until outcomes are written. */
  private waitingOnWriter = false;

  constructor(
    private readonly deps: DeliveryWorkerDeps,
    private readonly options: DeliveryWorkerOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 64;
    this.leaseMarginMs = options.leaseMarginMs ?? 10_000;
    this.idlePollMs = options.idlePollMs ?? 5_000;
    this.prefetch = options.prefetch ?? 2 * this.concurrency;
    this.lanes = new WorkerLanes(
      options.defaultMaxInFlight ?? Math.max(1, Math.floor(this.concurrency / 4)),
      Math.floor(this.prefetch / 2),
    );
    this.writer = new CompletionWriter(deps);
  }

  /** Requests in flight now. */
  get active(): number {
    return this.inFlight;
  }

  /** How many more deliveries it would take now, claimed by someone else (0 when not running). */
  get room(): number {
    if (!this.running || this.options.eventId || this.options.jobId) return 0;
    return Math.max(0, this.concurrency + this.prefetch - this.inFlight - this.queue.length);
  }

  /** How many more deliveries of this subscription it would take now (0 when not running). */
  roomFor(subscriptionId: string, maxInFlight: number | null): number {
    return this.room === 0 ? 0 : this.lanes.roomFor(subscriptionId, maxInFlight);
  }

  /** A claim lasts the subscription's timeout plus this. */
  get leaseMargin(): number {
    return this.leaseMarginMs;
  }

  /**
   * Deliveries leased to this worker by whoever wrote them (a publish in this process), to send
   * as if it had claimed them: the claim's round trip is saved.
   */
  adopt(deliveries: readonly ClaimedDelivery[]): void {
    const claimedAt = Date.now();
    for (const delivery of deliveries) {
      if (this.running) this.enqueue(delivery, claimedAt);
      else void this.record(this.release(delivery));
    }
    this.pump();
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.deliveries, () => this.wake());
    this.wake();
  }

  /**
   * Stops claiming, hands back what was claimed but not started, lets the requests in flight
   * finish (each within its timeout) and writes every outcome.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.unlisten?.();
    this.unlisten = undefined;
    while (this.claiming) await new Promise((r) => setTimeout(r, 5));
    for (const { delivery } of this.queue.splice(0)) this.handBack(delivery);
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    await this.writer.drain();
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
   * One claim of up to `limit` due deliveries, each sent and its outcome written before this
   * resolves. The loop does the same on its own; tests with a clock of their own call this.
   */
  async runOnce(limit = this.concurrency): Promise<number> {
    const batch = await this.claim(limit);
    const records = await Promise.all(batch.map((delivery) => this.attempt(delivery)));
    await Promise.all(records.map((record) => this.writer.write(record)));
    return batch.length;
  }

  private async claimLoop(): Promise<void> {
    this.claiming = true;
    try {
      do {
        this.wantClaim = false;
        // Keep up to one round of work claimed ahead, unless outcomes pile up unwritten.
        const room = this.concurrency + this.prefetch - this.inFlight - this.queue.length;
        this.waitingOnWriter = this.writer.backlog > 4 * this.concurrency;
        if (room <= 0 || this.waitingOnWriter) break;
        const batch = await this.claim(room);
        const claimedAt = Date.now();
        for (const delivery of batch) this.enqueue(delivery, claimedAt);
        this.pump();
        if (batch.length === room) this.wantClaim = true;
        // A lane this claim filled may have had more rows in its window, ahead of other lanes'
        // rows that it never reached: the next claim leaves the full lane out.
        else if (batch.some((delivery) => this.lanes.isFull(delivery.lane))) this.wantClaim = true;
        // Nothing due now: look again when the next retry falls due, whatever is still in flight.
        else if (batch.length === 0 && !this.wantClaim) await this.sleepUntilDue();
      } while (this.running && this.wantClaim);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'claiming deliveries failed; trying again in a second');
      this.setTimer(1000);
    } finally {
      this.claiming = false;
    }
  }

  /**
   * Starts queued deliveries while there are free slots, in the order claimed, passing over those
   * whose lane has its cap in flight: they wait for their lane, not for everyone.
   */
  private pump(): void {
    if (this.queue.length === 0 || this.inFlight >= this.concurrency) return;
    const waiting: typeof this.queue = [];
    const now = Date.now();
    for (let i = 0; i < this.queue.length; i++) {
      const item = this.queue[i] as (typeof this.queue)[number];
      if (this.inFlight >= this.concurrency) {
        waiting.push(...this.queue.slice(i));
        break;
      }
      const { delivery, claimedAt } = item;
      // A claim that waited here for most of its margin is handed back rather than sent late.
      if (now - claimedAt > this.leaseMarginMs / 2) {
        this.handBack(delivery);
        continue;
      }
      if (!this.lanes.startSending(delivery.lane)) {
        waiting.push(item);
        continue;
      }
      this.inFlight++;
      void this.attempt(delivery)
        // The lane's slot is free once the answer is in; the outcome is written behind it.
        .finally(() => this.lanes.leave(delivery.lane, true))
        .then((record) => this.record(record))
        .finally(() => {
          this.inFlight--;
          this.pump();
          this.refill();
        });
    }
    this.queue = waiting;
  }

  private enqueue(delivery: ClaimedDelivery, claimedAt: number): void {
    this.lanes.hold(delivery.lane, delivery.maxInFlight);
    this.queue.push({ delivery, claimedAt });
  }

  /** Hands a queued claim back untried. */
  private handBack(delivery: ClaimedDelivery): void {
    this.lanes.leave(delivery.lane, false);
    void this.record(this.release(delivery));
  }

  /**
   * After a request or an outcome write: claim again once enough room has opened to be worth a
   * claim. A capped lane's claims are small by nature (its room, not the worker's), and one claim
   * per finished request would spend the database on claims instead of deliveries. New work still
   * wakes the worker at once (notifications, publishes), and a nearly idle worker claims at once.
   */
  private refill(): void {
    this.freedSinceClaim++;
    if (this.queue.length >= this.prefetch / 2) return;
    if (this.freedSinceClaim >= REFILL_BATCH || this.inFlight + this.queue.length <= REFILL_BATCH) this.wake();
  }

  private record(record: AttemptOutcome): Promise<void> {
    return this.writer.write(record).then(
      // Room may have opened for claims that waited on unwritten outcomes.
      () => {
        if (this.waitingOnWriter && this.writer.backlog <= 4 * this.concurrency) this.wake();
      },
      // The lease runs out and the delivery is tried again: at least once, never lost.
      (error) =>
        this.deps.logger.error({ err: error, deliveryId: record.deliveryId }, 'recording a delivery attempt failed'),
    );
  }

  private claim(limit: number, laneRoom: Record<string, number> = this.lanes.room()): Promise<ClaimedDelivery[]> {
    this.freedSinceClaim = 0;
    return claimDeliveries(this.deps.db, this.deps.kinds, {
      now: this.deps.clock.now(),
      limit,
      leaseMarginMs: this.leaseMarginMs,
      eventId: this.options.eventId,
      jobId: this.options.jobId,
      defaultMaxInFlight: this.lanes.defaultCap,
      laneAhead: this.lanes.ahead,
      laneRoom,
    });
  }

  private async sleepUntilDue(): Promise<void> {
    // A full lane's rows wait for this worker's own requests to finish (each wakes it): the timer
    // is for the next row of a lane with room, or it would spin on what is due and cannot be taken.
    const due = await findNextDue(this.deps.db, this.lanes.full());
    const wait = due ? due.getTime() - this.deps.clock.now().getTime() : this.idlePollMs;
    this.setTimer(Math.max(0, Math.min(wait, this.idlePollMs)));
  }

  private setTimer(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref();
  }

  /** Sends one claimed delivery (or decides not to) and says what becomes of it. */
  private async attempt(delivery: ClaimedDelivery): Promise<AttemptOutcome> {
    const kind = this.deps.kinds.get(delivery.kind);
    const now = this.deps.clock.now();
    let outcome: AttemptOutcome;
    if (delivery.skip) {
      const { status, reason } = delivery.skip;
      outcome = unsent(delivery, now, { disposition: 'skipped', status, nextAttemptAt: null, error: reason });
    } else if (delivery.attempt - delivery.attemptOffset > allowedAttempts(delivery.request.retryPolicy)) {
      // Taken over after the last allowed attempt's worker stopped: its outcome is unknown, and
      // sending once more would go past the policy (and could repeat for ever with a receiver
      // that always outlasts the lease).
      const error = 'no attempts left: the last attempt stopped before it had an outcome';
      outcome = unsent(delivery, now, { disposition: 'exhausted', status: 'failed', nextAttemptAt: null, error });
    } else {
      const { rateLimit } = delivery;
      const waitMs = rateLimit
        ? this.limiter.reserve(rateLimit.key, rateLimit.perSecond, now.getTime(), delivery.deliveryId)
        : 0;
      if (waitMs > 0) {
        const nextAttemptAt = new Date(now.getTime() + waitMs);
        outcome = unsent(delivery, now, { disposition: 'deferred', status: 'pending', nextAttemptAt, error: null });
      } else {
        const sent = await performAttempt(delivery, { sender: this.deps.sender, now: () => this.deps.clock.now() });
        outcome = sent.outcome;
      }
    }
    return kind.onOutcome(delivery, outcome, this.deps.clock.now());
  }

  /** A claim handed back untried: due again now, its attempt not counted. */
  private release(delivery: ClaimedDelivery): AttemptOutcome {
    const now = this.deps.clock.now();
    const outcome = unsent(delivery, now, {
      disposition: 'released',
      status: 'pending',
      nextAttemptAt: now,
      error: null,
    });
    return this.deps.kinds.get(delivery.kind).onOutcome(delivery, outcome, now);
  }
}
