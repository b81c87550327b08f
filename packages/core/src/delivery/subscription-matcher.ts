import { type Database, subscriptions, users } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { Signing } from '../outbound/signing.ts';
import type { SubscriptionId, UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import type { SubscriptionTarget } from './event-delivery.ts';
import { matchesPattern } from './patterns.ts';
import { type CompiledFilter, compileFilter, type PayloadFilter } from './payload-filter.ts';

export interface MatchCandidate {
  id: SubscriptionId;
  userId: UserId;
  ownerIsAdmin: boolean;
  eventTypes: string[];
  filter: PayloadFilter | null;
  /** The filter compiled once per snapshot; one that cannot be compiled matches nothing. */
  compiledFilter: CompiledFilter | null;
  mode: 'async' | 'blocking';
  /** How to send to it, for a publish that hands its deliveries to this process's worker. */
  target: SubscriptionTarget;
  rateLimitPerSecond: number | null;
  maxInFlight: number | null;
}

export interface MatchScope {
  /** Only this user's subscriptions (and admins') may receive the event. */
  audienceUserId?: UserId | null;
  /** Only this subscription, if it matches (or `force`). */
  subscriptionId?: SubscriptionId | null;
  /** With subscriptionId: deliver even if its patterns or filter do not match (a test trigger). */
  force?: boolean;
  /** Only subscriptions of this mode: an event published as `after:x` or `before:x` (hook-phase.ts). */
  mode?: 'async' | 'blocking' | null;
}

/** A stale snapshot is reloaded after this long even without a notification. */
const MAX_AGE_MS = 30_000;

/**
 * The enabled subscriptions, held in memory for publishing: matching an event is patterns and
 * filters over this snapshot, not a query; a delivery handed straight to this process's worker is
 * sent with what the snapshot holds. Any change in this process drops it at once; changes in
 * other processes drop it through NOTIFY, and a snapshot never outlives MAX_AGE_MS.
 */
export class SubscriptionMatcher {
  private snapshot: Promise<MatchCandidate[]> | null = null;
  private loadedAt = 0;
  private generation = 0;
  private unlisten: (() => Promise<void>) | undefined;
  /** Why each subscription's stored filter could not be compiled, as last logged. */
  private readonly unusableFilters = new Map<SubscriptionId, string>();

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger }) {}

  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.subscriptions, () => this.invalidate());
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  invalidate(): void {
    this.generation++;
    this.snapshot = null;
  }

  /** The subscriptions that should receive an event of this type and envelope. */
  async match(type: string, envelope: unknown, scope: MatchScope = {}): Promise<MatchCandidate[]> {
    const all = await this.load();
    return all.filter((candidate) => {
      if (scope.subscriptionId && candidate.id !== scope.subscriptionId) return false;
      if (scope.audienceUserId && candidate.userId !== scope.audienceUserId && !candidate.ownerIsAdmin) return false;
      // Before force: a forced trigger still reaches only hooks of the phase it names.
      if (scope.mode && candidate.mode !== scope.mode) return false;
      if (scope.subscriptionId && scope.force) return true;
      if (!candidate.eventTypes.some((pattern) => matchesPattern(pattern, type))) return false;
      const filter = candidate.compiledFilter;
      return filter === null || (filter.ok && filter.matches(envelope));
    });
  }

  /**
   * A filter stored before a rule it now breaks (a lookahead, say) is compiled once per snapshot
   * and said once per subscription, never with a payload: it matches nothing until it is changed.
   */
  private compile(subscriptionId: SubscriptionId, filter: PayloadFilter): CompiledFilter {
    const compiled = compileFilter(filter);
    if (compiled.ok) {
      this.unusableFilters.delete(subscriptionId);
    } else {
      const said = `${compiled.path}: ${compiled.reason}`;
      if (this.unusableFilters.get(subscriptionId) !== said) {
        this.unusableFilters.set(subscriptionId, said);
        this.deps.logger.warn(
          { subscriptionId, path: compiled.path, reason: compiled.reason },
          'subscription filter cannot be used; it matches nothing until it is changed',
        );
      }
    }
    return compiled;
  }

  private load(): Promise<MatchCandidate[]> {
    if (this.snapshot && Date.now() - this.loadedAt < MAX_AGE_MS) return this.snapshot;
    const generation = this.generation;
    const loading = this.deps.db
      .select({
        id: subscriptions.id,
        userId: subscriptions.userId,
        role: users.role,
        eventTypes: subscriptions.eventTypes,
        filter: subscriptions.filter,
        mode: subscriptions.mode,
        url: subscriptions.url,
        headers: subscriptions.headers,
        signing: subscriptions.signing,
        secret: subscriptions.secret,
        previousSecret: subscriptions.previousSecret,
        previousSecretExpiresAt: subscriptions.previousSecretExpiresAt,
        timeoutMs: subscriptions.timeoutMs,
        retryPolicy: subscriptions.retryPolicy,
        bodyFormat: subscriptions.bodyFormat,
        rateLimitPerSecond: subscriptions.rateLimitPerSecond,
        maxInFlight: subscriptions.maxInFlight,
      })
      .from(subscriptions)
      .innerJoin(users, eq(users.id, subscriptions.userId))
      .where(eq(subscriptions.enabled, true))
      .then((rows) =>
        rows.map((row) => ({
          id: row.id,
          userId: row.userId,
          ownerIsAdmin: row.role === 'admin',
          eventTypes: row.eventTypes,
          filter: row.filter ?? null,
          compiledFilter: row.filter ? this.compile(row.id, row.filter) : null,
          mode: row.mode,
          rateLimitPerSecond: row.rateLimitPerSecond,
          maxInFlight: row.maxInFlight,
          target: {
            id: row.id,
            url: row.url,
            headers: row.headers,
            signing: row.signing as Signing,
            secret: row.secret,
            previousSecret: row.previousSecret,
            previousSecretExpiresAt: row.previousSecretExpiresAt,
            timeoutMs: row.timeoutMs,
            retryPolicy: row.retryPolicy as RetryPolicy,
            bodyFormat: row.bodyFormat,
          },
        })),
      );
    this.snapshot = loading;
    this.loadedAt = Date.now();
    loading.then(
      () => {
        // A change while loading may not be in what was read: the next caller loads again.
        if (generation !== this.generation && this.snapshot === loading) this.snapshot = null;
      },
      () => {
        if (this.snapshot === loading) this.snapshot = null;
      },
    );
    return loading;
  }
}
