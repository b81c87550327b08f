import type { Database } from '@switchboard/db';
import type { QueueId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { compileAllowlist } from '../shared/network.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { compileQueueActions } from './actions/action-catalog.ts';
import type { CompiledAction } from './actions/action-types.ts';
import type { Dedup, ResponseDefinition } from './queue-definition.ts';
import { QueueStore } from './queue-store.ts';
import type { RulesDefinition } from './rules/rule-definition.ts';
import { type CompiledRules, compileRules } from './rules/rules.ts';
import type { Verification } from './verification/types.ts';

/** What ingest needs of a queue, compiled once instead of read on every POST. */
export interface CompiledQueue {
  id: QueueId;
  name: string;
  verification: Verification;
  isAllowed: (address: string | undefined) => boolean;
  maxMessageSize: number | null;
  dedup: Dedup | null;
  /** Its own path (`/github`), or null. */
  path: string | null;
  /** Methods it takes: its rules' top-level `method`, else POST. */
  methods: readonly string[];
  /** Null: every request is accepted. A stored rule set that no longer compiles refuses every request. */
  rules: Result<CompiledRules | null>;
  /** Compiled once per load; a list that no longer compiles fails each message's run, saying why. */
  actions: Result<CompiledAction[]>;
  respond: 'at-once' | 'after-actions';
  response: ResponseDefinition | null;
  rejected: 'refuse' | 'store';
  dialect: 'switchboard' | 'webhook-proxy';
}

/**
 * Every queue, by name, in memory. Reloaded whole when any process announces a change on the
 * queues channel; queues are few and change rarely, ingest is many and constant.
 */
export class QueueRegistry {
  private byName = new Map<string, CompiledQueue>();
  private byIdMap = new Map<string, CompiledQueue>();
  private byPathMap = new Map<string, CompiledQueue>();
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

  byId(id: string): CompiledQueue | undefined {
    return this.byIdMap.get(id);
  }

  /** The queue served at its own path (webhook-proxy's endpoints), if any. */
  byPath(path: string): CompiledQueue | undefined {
    return this.byPathMap.get(path);
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
    const compiled = rows.map((row): CompiledQueue => {
      const rules = row.rules ? compileRules(row.rules as unknown as RulesDefinition) : ok(null);
      if (!rules.ok)
        this.deps.logger.error({ queue: row.name, problem: rules.error.message }, 'queue rules do not compile');
      const actions = compileQueueActions(row.actions);
      if (!actions.ok)
        this.deps.logger.error({ queue: row.name, problem: actions.error.message }, 'queue actions do not compile');
      return {
        id: row.id,
        name: row.name,
        verification: row.verification as unknown as Verification,
        isAllowed: compileAllowlist(row.allowedNetworks),
        maxMessageSize: row.maxMessageSize,
        dedup: (row.dedup as Dedup | null) ?? null,
        path: row.path,
        methods: (rules.ok ? rules.value?.methods : null) ?? ['POST'],
        rules: rules.ok ? rules : fail('UNAVAILABLE', 'This queue is misconfigured: its rules cannot be checked'),
        actions,
        respond: row.respond,
        response: (row.response as ResponseDefinition | null) ?? null,
        rejected: row.rejected,
        dialect: row.dialect,
      };
    });
    this.byName = new Map(compiled.map((q) => [q.name, q]));
    this.byIdMap = new Map(compiled.map((q) => [q.id, q]));
    this.byPathMap = new Map(compiled.filter((q) => q.path).map((q) => [q.path as string, q]));
  }
}
