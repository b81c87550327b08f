import type { Database } from '@switchboard/db';
import type { QueueId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { compileAllowlist } from '../shared/network.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import type { Dedup } from './queue-definition.ts';
import { QueueStore } from './queue-store.ts';
import type { Verification } from './verification/types.ts';

/** What ingest needs of a queue, compiled once instead of read on every POST. */
export interface CompiledQueue {
  id: QueueId;
  name: string;
  verification: Verification;
  isAllowed: (address: string | undefined) => boolean;
  maxMessageSize: number | null;
  dedup: Dedup | null;
}

/**
 * Every queue, by name, in memory. Reloaded whole when any process announces a change on the
 * queues channel; queues are few and change rarely, ingest is many and constant.
 */
export class QueueRegistry {
  private byName = new Map<string, CompiledQueue>();
  private unlisten: (() => Promise<void>) | undefined;
  private loading: Promise<void> | undefined;
  private readonly store: QueueStore;

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger }) {
    this.store = new QueueStore(deps);
  }

  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.queues, () => {
      void this.reload().catch((error) => this.deps.logger.error({ err: error }, 'queue reload failed'));
    });
    await this.reload();
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
  }

  get(name: string): CompiledQueue | undefined {
    return this.byName.get(name);
  }

  /** Coalesces concurrent reloads into one, then one more if a change arrived meanwhile. */
  reload(): Promise<void> {
    const next = (this.loading ?? Promise.resolve()).then(() => this.load());
    this.loading = next.finally(() => {
      if (this.loading === next) this.loading = undefined;
    });
    return next;
  }

  private async load(): Promise<void> {
    const rows = await this.store.listForIngest();
    this.byName = new Map(
      rows.map((row) => [
        row.name,
        {
          id: row.id,
          name: row.name,
          verification: row.verification as unknown as Verification,
          isAllowed: compileAllowlist(row.allowedNetworks),
          maxMessageSize: row.maxMessageSize,
          dedup: (row.dedup as Dedup | null) ?? null,
        },
      ]),
    );
  }
}
