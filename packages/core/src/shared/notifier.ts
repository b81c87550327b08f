import type { Logger } from './logger.ts';
import type { PubSub } from './pubsub.ts';

/**
 * NOTIFY on one channel, coalesced: at most one in flight and at most one every `minIntervalMs`,
 * however often it is poked; a poke while one is pending is covered by it. For "there is work"
 * signals, where one wake-up serves any number of reasons. Sent on its own, never inside a
 * writing transaction: Postgres serialises the commits of transactions that notify.
 */
export class CoalescedNotifier {
  private sending = false;
  private inFlight: Promise<void> = Promise.resolve();
  private again = false;
  private lastSent = 0;

  constructor(
    private readonly pubsub: PubSub,
    private readonly channel: string,
    private readonly logger: Logger,
    private readonly minIntervalMs = 5,
  ) {}

  poke(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    this.inFlight = this.send();
  }

  /** Resolves once every poke so far has been sent (before a process that poked exits). */
  async settled(): Promise<void> {
    while (this.sending) await this.inFlight;
  }

  private async send(): Promise<void> {
    do {
      this.again = false;
      const wait = this.lastSent + this.minIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.lastSent = Date.now();
      await this.pubsub.notify(this.channel, '').catch((error) => this.logger.warn({ err: error }, 'NOTIFY failed'));
    } while (this.again);
    this.sending = false;
  }
}
