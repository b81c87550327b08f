import type { Database } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { DeliveryId, SubscriptionId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { completeDeliveries } from './outbound-store.ts';
import type { AttemptOutcome } from './outcome.ts';

const MAX_BATCH = 500;
/**
 * A batch smaller than this waits up to GATHER_MS for company. Requests do not wait on it (their
 * slots are free once the answer is in), so this only trades a little recording latency for far
 * fewer, larger statements when the worker is busy.
 */
const GATHER_BATCH = 100;
const GATHER_MS = 10;
/** Delivery-update announcements go out at most this often, each with every id changed since. */
const ANNOUNCE_EVERY_MS = 50;
/** NOTIFY payloads are limited to 8000 bytes. */
const IDS_PER_NOTIFICATION = 500;

export interface CompletionWriterDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  onSubscriptionsDisabled?: (disabled: Array<{ subscriptionId: SubscriptionId; reason: string }>) => Promise<void>;
  observe?: (record: AttemptOutcome) => void;
  /** A batch left work due at once that nobody has announced: a callback queued, a claim handed back. */
  onDue?: () => void;
}

/**
 * Group commit for attempt outcomes: a record handed in while a batch is being written waits for
 * the next batch and shares it, so a busy worker writes a few hundred outcomes per statement. The
 * changed ids are announced afterwards, outside the transaction, so that the commit is not held
 * up by the notification queue.
 */
export class CompletionWriter {
  /** `alone`: its batch failed; it is written in a batch of its own. */
  private pending: Array<{ record: AttemptOutcome; done: (error?: unknown) => void; alone?: boolean }> = [];
  private flushing: Promise<void> | null = null;
  private unannounced: DeliveryId[] = [];
  private announceTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: CompletionWriterDeps) {}

  /** Outcomes handed in and not yet written. */
  get backlog(): number {
    return this.pending.length;
  }

  /** Resolves once the batch holding this record is written (and any disabled subscription announced). */
  write(record: AttemptOutcome): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record, done: (error) => (error ? reject(error) : resolve()) });
      if (!this.flushing) this.flushing = this.flush().finally(() => (this.flushing = null));
    });
  }

  /** Resolves when everything handed in so far is written or has failed (and announced). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.announceTimer) clearTimeout(this.announceTimer);
    this.announceTimer = undefined;
    await this.announceNow();
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const alone = this.pending[0]?.alone === true;
      if (!alone && this.pending.length < GATHER_BATCH) await new Promise((r) => setTimeout(r, GATHER_MS));
      const batch = this.pending.splice(0, alone ? 1 : MAX_BATCH);
      try {
        const records = batch.map((b) => b.record);
        const disabled = await completeDeliveries(this.deps.db, this.deps.clock.now(), records);
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
        this.announce(records.map((r) => r.deliveryId));
        if (records.some((r) => r.disposition === 'released' || r.job?.callback)) this.deps.onDue?.();
      } catch (error) {
        if (batch.length === 1) {
          (batch[0] as (typeof batch)[number]).done(error);
          continue;
        }
        // One bad record must not cost the others their outcome: write each on its own.
        this.deps.logger.warn(
          { err: error, records: batch.length },
          'writing outcomes failed; writing them one by one',
        );
        this.pending.unshift(...batch.map((item) => ({ ...item, alone: true })));
      }
    }
  }

  /** Gathered for ANNOUNCE_EVERY_MS: one NOTIFY for many batches, not one per batch. */
  private announce(ids: DeliveryId[]): void {
    this.unannounced.push(...ids);
    this.announceTimer ??= setTimeout(() => {
      this.announceTimer = undefined;
      void this.announceNow();
    }, ANNOUNCE_EVERY_MS);
  }

  private async announceNow(): Promise<void> {
    const ids = this.unannounced;
    this.unannounced = [];
    await announceDeliveryUpdates(this.deps.pubsub, ids).catch((error) =>
      this.deps.logger.warn({ err: error }, 'announcing delivery updates failed'),
    );
  }
}

/** Tells every process's delivery streams that these deliveries changed, a payload-sized chunk at a time. */
export async function announceDeliveryUpdates(pubsub: PubSub, ids: readonly DeliveryId[]): Promise<void> {
  for (let i = 0; i < ids.length; i += IDS_PER_NOTIFICATION) {
    await pubsub.notify(CHANNELS.deliveryUpdates, JSON.stringify(ids.slice(i, i + IDS_PER_NOTIFICATION)));
  }
}
