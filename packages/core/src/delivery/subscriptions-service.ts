import { randomBytes } from 'node:crypto';
import { type Database, subscriptions } from '@switchboard/db';
import { and, asc, eq } from 'drizzle-orm';
import { hasScope, isAdmin, type Principal } from '../auth/principal.ts';
import { toFieldProblems } from '../queues/queue-definition.ts';
import type { Clock } from '../shared/clock.ts';
import { isUuid } from '../shared/crypto.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { PayloadFilter } from './payload-filter.ts';
import type { RetryPolicy } from './retry-policy.ts';
import { type Signing, type SubscriptionDefinition, subscriptionDefinitionSchema } from './subscription-definition.ts';

export interface Subscription {
  id: string;
  userId: string;
  name: string;
  description: string | null;
  url: string;
  eventTypes: string[];
  filter: PayloadFilter | null;
  headers: Record<string, string>;
  signing: Signing;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  rateLimitPerSecond: number | null;
  mode: 'async' | 'blocking';
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  consecutiveFailures: number;
  lastSuccessAt: Date | null;
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Everything but the secrets, which are shown only when made (creation, rotation). */
const columns = {
  id: subscriptions.id,
  userId: subscriptions.userId,
  name: subscriptions.name,
  description: subscriptions.description,
  url: subscriptions.url,
  eventTypes: subscriptions.eventTypes,
  filter: subscriptions.filter,
  headers: subscriptions.headers,
  signing: subscriptions.signing,
  timeoutMs: subscriptions.timeoutMs,
  retryPolicy: subscriptions.retryPolicy,
  rateLimitPerSecond: subscriptions.rateLimitPerSecond,
  mode: subscriptions.mode,
  enabled: subscriptions.enabled,
  disabledReason: subscriptions.disabledReason,
  disabledAt: subscriptions.disabledAt,
  consecutiveFailures: subscriptions.consecutiveFailures,
  lastSuccessAt: subscriptions.lastSuccessAt,
  previousSecretExpiresAt: subscriptions.previousSecretExpiresAt,
  createdAt: subscriptions.createdAt,
  updatedAt: subscriptions.updatedAt,
};

const toSubscription = (row: Record<string, unknown>) => row as unknown as Subscription;

/** `whsec_` and 24 random bytes in base64, as Standard Webhooks and Svix libraries expect. */
export function generateSigningSecret(signing: Signing): string {
  const bytes = randomBytes(24).toString('base64');
  return signing.scheme === 'standard-webhooks' ? `whsec_${bytes}` : bytes;
}

export class SubscriptionsService {
  constructor(private readonly deps: { db: Database; clock: Clock; logger: Logger }) {}

  async list(actor: Principal, options: { allUsers?: boolean } = {}): Promise<Result<Subscription[]>> {
    if (!hasScope(actor, 'subscriptions:read') && !hasScope(actor, 'subscriptions:write')) {
      return fail('FORBIDDEN', 'Reading subscriptions needs the subscriptions:read scope');
    }
    if (options.allUsers && !isAdmin(actor)) return fail('FORBIDDEN', "Only admins can see everyone's subscriptions");
    const rows = await this.deps.db
      .select(columns)
      .from(subscriptions)
      .where(options.allUsers ? undefined : eq(subscriptions.userId, actor.user.id))
      .orderBy(asc(subscriptions.name));
    return ok(rows.map(toSubscription));
  }

  async get(actor: Principal, id: string): Promise<Result<Subscription>> {
    const row = await this.find(actor, id);
    return row ? ok(row) : fail('NOT_FOUND', 'No such subscription');
  }

  async create(
    actor: Principal,
    definition: SubscriptionDefinition,
    options: { userId?: string } = {},
  ): Promise<Result<{ subscription: Subscription; secret: string }>> {
    const denied = this.checkWrite(actor, options.userId ?? actor.user.id);
    if (denied) return denied;
    const parsed = subscriptionDefinitionSchema.safeParse(definition);
    if (!parsed.success)
      return fail('INVALID', 'The subscription is not valid', { fields: toFieldProblems(parsed.error) });
    const { secret: given, ...data } = parsed.data;
    const secret = given ?? generateSigningSecret(data.signing);
    try {
      const [row] = await this.deps.db
        .insert(subscriptions)
        .values({ ...data, filter: data.filter ?? null, userId: options.userId ?? actor.user.id, secret })
        .returning(columns);
      this.deps.logger.info({ subscription: data.name, url: data.url, by: actor.user.id }, 'subscription created');
      return ok({ subscription: toSubscription(row as Record<string, unknown>), secret });
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `You already have a subscription named "${data.name}"`);
      throw error;
    }
  }

  /** Replaces the definition; the secret stays (see rotateSecret). */
  async update(actor: Principal, id: string, definition: SubscriptionDefinition): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    const parsed = subscriptionDefinitionSchema.safeParse(definition);
    if (!parsed.success)
      return fail('INVALID', 'The subscription is not valid', { fields: toFieldProblems(parsed.error) });
    const { secret: _ignored, ...data } = parsed.data;
    try {
      const [row] = await this.deps.db
        .update(subscriptions)
        .set({ ...data, filter: data.filter ?? null, updatedAt: this.deps.clock.now() })
        .where(eq(subscriptions.id, id))
        .returning(columns);
      return row ? ok(toSubscription(row)) : fail('NOT_FOUND', 'No such subscription');
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `A subscription named "${data.name}" exists`);
      throw error;
    }
  }

  async delete(actor: Principal, id: string): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    await this.deps.db.delete(subscriptions).where(eq(subscriptions.id, id));
    return ok(current);
  }

  /** Disables with a reason, or enables again (which also clears the failure count). */
  async setEnabled(actor: Principal, id: string, enabled: boolean, reason?: string): Promise<Result<Subscription>> {
    const current = await this.find(actor, id);
    if (!current) return fail('NOT_FOUND', 'No such subscription');
    const denied = this.checkWrite(actor, current.userId);
    if (denied) return denied;
    const now = this.deps.clock.now();
    const [row] = await this.deps.db
      .update(subscriptions)
      .set(
        enabled
          ? { enabled: true, disabledReason: null, disabledAt: null, consecutiveFailures: 0, updatedAt: now }
          : {
              enabled: false,
              disabledReason: reason ?? `disabled by ${actor.user.username}`,
              disabledAt: now,
              updatedAt: now,
            },
      )
      .where(eq(subscriptions.id, id))
      .returning(columns);
    return row ? ok(toSubscription(row)) : fail('NOT_FOUND', 'No such subscription');
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
    const [old] = await this.deps.db
      .select({ secret: subscriptions.secret })
      .from(subscriptions)
      .where(eq(subscriptions.id, id));
    const secret = generateSigningSecret(current.signing);
    const now = this.deps.clock.now();
    const [row] = await this.deps.db
      .update(subscriptions)
      .set({
        secret,
        previousSecret: graceSeconds > 0 ? (old?.secret ?? null) : null,
        previousSecretExpiresAt: graceSeconds > 0 ? new Date(now.getTime() + graceSeconds * 1000) : null,
        updatedAt: now,
      })
      .where(eq(subscriptions.id, id))
      .returning(columns);
    if (!row) return fail('NOT_FOUND', 'No such subscription');
    this.deps.logger.info({ subscriptionId: id, graceSeconds, by: actor.user.id }, 'subscription secret rotated');
    return ok({ subscription: toSubscription(row), secret });
  }

  /** Someone else's subscription is reported as missing, so that ids cannot be probed. */
  private async find(actor: Principal, id: string): Promise<Subscription | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.deps.db
      .select(columns)
      .from(subscriptions)
      .where(
        isAdmin(actor)
          ? eq(subscriptions.id, id)
          : and(eq(subscriptions.id, id), eq(subscriptions.userId, actor.user.id)),
      );
    return row ? toSubscription(row) : null;
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
