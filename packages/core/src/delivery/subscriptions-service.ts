import { isIP } from 'node:net';
import type { Database } from '@switchboard/db';
import { hasScope, isAdmin, type Principal } from '../access/principal.ts';
import { failPendingDeliveries, setLaneTerms } from '../outbound/outbound-store.ts';
import { normaliseSecret } from '../outbound/signing.ts';
import type { SsrfGuard } from '../outbound/ssrf-guard.ts';
import { toFieldProblems } from '../queues/queue-definition.ts';
import type { Clock } from '../shared/clock.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import { parseId, type SubscriptionId, type UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import {
  applyChanges,
  loggableUrl,
  type SubscriptionChanges,
  type SubscriptionDefinition,
  subscriptionDefinitionSchema,
} from './subscription-definition.ts';
import { generateSigningSecret, type Subscription } from './subscription-record.ts';
import { SubscriptionStore } from './subscription-store.ts';

export * from './subscription-record.ts';

const MIN_API_SECRET_LENGTH = 16;

export interface SubscriptionsServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  guard: SsrfGuard;
  /** Told of every change, so that publishing matches against what is stored now. */
  onChange?: () => void;
}

export interface CreateOptions {
  /** An admin (or the system) creating for someone else. */
  userId?: string;
  managedBy?: 'api' | 'config';
}

export class SubscriptionsService {
  private readonly store: SubscriptionStore;

  constructor(private readonly deps: SubscriptionsServiceDeps) {
    this.store = new SubscriptionStore(deps.db);
  }

  async list(actor: Principal, options: { allUsers?: boolean } = {}): Promise<Result<Subscription[]>> {
    if (!hasScope(actor, 'subscriptions:read') && !hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Reading subscriptions needs the subscriptions:read scope');
    }
    if (options.allUsers && !isAdmin(actor)) return fail('FORBIDDEN', "Only admins can see everyone's subscriptions");
    return ok(await this.store.list(options.allUsers ? null : actor.user.id));
  }

  async get(actor: Principal, id: string): Promise<Result<Subscription>> {
    if (!hasScope(actor, 'subscriptions:read') && !hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Reading subscriptions needs the subscriptions:read scope');
    }
    const row = await this.find(actor, id);
    return row ? ok(row) : fail('NOT_FOUND', 'No such subscription');
  }

  async create(
    actor: Principal,
    definition: SubscriptionDefinition,
    options: CreateOptions = {},
  ): Promise<Result<{ subscription: Subscription; secret: string }>> {
    const owner = options.userId ?? actor.user.id;
    const denied = this.checkWrite(actor, owner);
    if (denied) return denied;
    const parsed = this.parse(definition, options.managedBy === 'config');
    if (!parsed.ok) return parsed;
    const { secret: given, ...data } = parsed.value;
    const ownerId = owner === actor.user.id ? actor.user.id : parseId<UserId>(owner);
    if (!ownerId) return fail('NOT_FOUND', 'No such user');
    const secret = given ? normaliseSecret(data.signing, given) : generateSigningSecret(data.signing);
    try {
      const subscription = await this.store.insert({
        ...data,
        filter: data.filter ?? null,
        userId: ownerId,
        secret,
        managedBy: options.managedBy ?? 'api',
      });
      this.deps.logger.info(
        { subscription: data.name, url: loggableUrl(data.url), by: actor.user.id },
        'subscription created',
      );
      await this.changed();
      return ok({ subscription, secret });
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `A subscription named "${data.name}" exists for this user`);
      throw error;
    }
  }

  /**
   * Changes only what `changes` names (see SubscriptionChanges): a field left out keeps its stored
   * value, so that an update never quietly changes what a subscriber receives (a Webhook test
   * subscription keeps its body format and its disable rule). The secret stays (see rotateSecret)
   * unless given. The config file states each webhook whole: from it (`managedBy: 'config'`), the
   * definition replaces the stored one and what it leaves out takes its default.
   */
  async update(
    actor: Principal,
    id: string,
    changes: SubscriptionChanges,
    options: { managedBy?: 'api' | 'config' } = {},
  ): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    const fromConfig = options.managedBy === 'config';
    const definition = fromConfig ? (changes as SubscriptionDefinition) : applyChanges(current, changes);
    const parsed = this.parse(definition, fromConfig);
    if (!parsed.ok) return parsed;
    const { secret: given, ...data } = parsed.value;
    try {
      const updated = await this.deps.db.transaction(async (tx) => {
        const row = await this.store.update(
          current.id,
          {
            ...data,
            filter: data.filter ?? null,
            ...(given ? { secret: normaliseSecret(data.signing, given) } : {}),
            ...(options.managedBy ? { managedBy: options.managedBy } : {}),
            updatedAt: this.deps.clock.now(),
          },
          tx,
        );
        // Deliveries not yet done are leased and capped by what the subscription says now.
        if (row && (row.timeoutMs !== current.timeoutMs || row.maxInFlight !== current.maxInFlight)) {
          await setLaneTerms(tx, current.id, { timeoutMs: row.timeoutMs, maxInFlight: row.maxInFlight });
        }
        return row;
      });
      await this.changed();
      return updated ? ok(updated) : fail('NOT_FOUND', 'No such subscription');
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `A subscription named "${data.name}" exists for this user`);
      throw error;
    }
  }

  /** Deletes the subscription with its deliveries and their attempts. */
  async delete(actor: Principal, id: string): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    await this.store.delete(current.id);
    await this.changed();
    return ok(current);
  }

  /**
   * Disables with a reason (its pending deliveries fail with that reason, to be recovered later),
   * or enables again, which also forgets the failures that counted towards disabling it.
   */
  async setEnabled(actor: Principal, id: string, enabled: boolean, reason?: string): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    const now = this.deps.clock.now();
    const why = reason?.trim() || `disabled by ${actor.user.username}`;
    const row = await this.deps.db.transaction(async (tx) => {
      const updated = await this.store.update(
        current.id,
        enabled
          ? {
              enabled: true,
              disabledReason: null,
              disabledAt: null,
              consecutiveFailures: 0,
              failingSince: null,
              failedAttempts: 0,
            }
          : { enabled: false, disabledReason: why, disabledAt: now },
        tx,
      );
      if (!enabled) {
        await failPendingDeliveries(
          tx,
          { subscriptionId: current.id },
          {
            status: 'failed',
            error: `not sent: the subscription was disabled (${why})`,
            now,
          },
        );
      }
      return updated;
    });
    await this.changed();
    return row ? ok(row) : fail('NOT_FOUND', 'No such subscription');
  }

  /**
   * A new secret; the old one keeps signing too (a second signature) for `graceSeconds`, so that
   * receivers can switch without losing a delivery.
   */
  async rotateSecret(
    actor: Principal,
    id: string,
    graceSeconds = 86_400,
  ): Promise<Result<{ subscription: Subscription; secret: string }>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    if (!Number.isInteger(graceSeconds) || graceSeconds < 0 || graceSeconds > 30 * 86_400) {
      return fail('INVALID', 'graceSeconds must be between 0 and 2592000 (30 days)');
    }
    const old = await this.store.secretOf(current.id);
    const secret = generateSigningSecret(current.signing);
    const now = this.deps.clock.now();
    const row = await this.store.update(current.id, {
      secret,
      previousSecret: graceSeconds > 0 ? old : null,
      previousSecretExpiresAt: graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : null,
      updatedAt: now,
    });
    if (!row) return fail('NOT_FOUND', 'No such subscription');
    // Deliveries handed straight to a worker are signed from the matcher's snapshot.
    await this.changed();
    this.deps.logger.info({ subscriptionId: id, graceSeconds, by: actor.user.id }, 'subscription secret rotated');
    return ok({ subscription: row, secret });
  }

  /** The actor's own subscription of that name (names are unique per user). */
  async getByName(actor: Principal, name: string): Promise<Result<Subscription>> {
    if (!hasScope(actor, 'subscriptions:read') && !hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Reading subscriptions needs the subscriptions:read scope');
    }
    const row = await this.store.findByName(actor.user.id, name);
    return row ? ok(row) : fail('NOT_FOUND', 'No such subscription');
  }

  /** Someone else's subscription is reported as missing, so that ids cannot be probed (a malformed id too). */
  async find(actor: Principal, rawId: string): Promise<Subscription | null> {
    const id = parseId<SubscriptionId>(rawId);
    return id ? this.store.find(actor, id) : null;
  }

  /** Every subscription the config file made, or (with ownerId) every one of that user. */
  async listForConfig(actor: Principal, filter: { ownerId: UserId } | { managedBy: 'config' }) {
    if (!isAdmin(actor)) return fail('FORBIDDEN', "Only admins can see everyone's subscriptions");
    return ok('ownerId' in filter ? await this.store.list(filter.ownerId) : await this.store.listManagedByConfig());
  }

  /**
   * Whether create or update would accept the definition, storing nothing: the config file checks
   * every webhook before it changes anything.
   */
  check(definition: SubscriptionDefinition, options: { managedBy?: 'api' | 'config' } = {}): Result<null> {
    const parsed = this.parse(definition, options.managedBy === 'config');
    return parsed.ok ? ok(null) : parsed;
  }

  /** Tells this process's matcher at once and the others through NOTIFY. */
  async changed(): Promise<void> {
    this.deps.onChange?.();
    await this.deps.pubsub.notify(CHANNELS.subscriptions, '');
  }

  private parse(definition: SubscriptionDefinition, fromConfig: boolean) {
    const parsed = subscriptionDefinitionSchema.safeParse(definition);
    if (!parsed.success) {
      return fail<never>('INVALID', 'The subscription is not valid', { fields: toFieldProblems(parsed.error) });
    }
    // Names, headers and filters are stored as text and jsonb, which cannot hold a NUL.
    const nul = findNul(parsed.data);
    const fields: Array<{ path: string; message: string }> = nul ? [nul] : [];
    const { secret, url } = parsed.data;
    if (secret && secret.length < MIN_API_SECRET_LENGTH && !fromConfig) {
      fields.push({ path: 'secret', message: `must be at least ${MIN_API_SECRET_LENGTH} characters` });
    }
    // Addresses written in the URL are checked now; names are checked at each connection.
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const refused = isIP(host) ? this.deps.guard.checkAddress(host) : null;
    if (refused) fields.push({ path: 'url', message: refused });
    if (fields.length > 0) return fail<never>('INVALID', 'The subscription is not valid', { fields });
    return ok(parsed.data);
  }

  private checkWrite(actor: Principal, ownerId: string): Result<never> | null {
    if (!hasScope(actor, 'subscriptions:write'))
      return fail('FORBIDDEN', 'Changing subscriptions needs the subscriptions:write scope');
    if (ownerId !== actor.user.id && !isAdmin(actor))
      return fail('FORBIDDEN', "Only admins can manage other users' subscriptions");
    if (actor.via === 'system' && ownerId === actor.user.id)
      return fail('INVALID', 'Subscriptions belong to a user: give userId');
    return null;
  }
}
