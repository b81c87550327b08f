import { type Database, type Executor, subscriptions } from '@switchboard/db';
import { and, asc, eq, type SQL } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { SubscriptionId, UserId } from '../shared/ids.ts';
import { type Subscription, subscriptionColumns, toSubscription } from './subscription-record.ts';

type NewSubscription = typeof subscriptions.$inferInsert;
type SubscriptionUpdate = Partial<NewSubscription>;

/**
 * The `subscriptions` table's one owner. Its delivery-time columns (failure counts, auto-disable)
 * are also moved by `switchboard_complete_deliveries`, with the outcomes that move them (see
 * packages/db/sql/complete_deliveries.sql).
 */
export class SubscriptionStore {
  constructor(private readonly db: Database) {}

  /** The subscriptions a caller may see: their own, or everyone's for admins and the system. */
  visibleTo(actor: Principal): SQL | undefined {
    return isAdmin(actor) ? undefined : eq(subscriptions.userId, actor.user.id);
  }

  /** Someone else's subscription is missing to a member, so that ids cannot be probed. */
  async find(actor: Principal, id: SubscriptionId): Promise<Subscription | null> {
    const [row] = await this.db
      .select(subscriptionColumns)
      .from(subscriptions)
      .where(and(eq(subscriptions.id, id), this.visibleTo(actor)));
    return row ? toSubscription(row) : null;
  }

  /** One user's subscriptions, or everyone's (null), by name. */
  async list(ownerId: UserId | null): Promise<Subscription[]> {
    const rows = await this.db
      .select(subscriptionColumns)
      .from(subscriptions)
      .where(ownerId === null ? undefined : eq(subscriptions.userId, ownerId))
      .orderBy(asc(subscriptions.name));
    return rows.map(toSubscription);
  }

  async findByName(ownerId: UserId, name: string): Promise<Subscription | null> {
    const [row] = await this.db
      .select(subscriptionColumns)
      .from(subscriptions)
      .where(and(eq(subscriptions.userId, ownerId), eq(subscriptions.name, name)));
    return row ? toSubscription(row) : null;
  }

  /** Those the config file made (managedBy 'config'), whoever owns them. */
  async listManagedByConfig(): Promise<Subscription[]> {
    const rows = await this.db
      .select(subscriptionColumns)
      .from(subscriptions)
      .where(eq(subscriptions.managedBy, 'config'));
    return rows.map(toSubscription);
  }

  /** Throws a unique violation when the owner has one of that name. */
  async insert(values: NewSubscription): Promise<Subscription> {
    const [row] = await this.db.insert(subscriptions).values(values).returning(subscriptionColumns);
    return toSubscription(row as Record<string, unknown>);
  }

  /** Throws a unique violation when the new name is taken; null when it is gone. */
  async update(id: SubscriptionId, set: SubscriptionUpdate, db: Executor = this.db): Promise<Subscription | null> {
    const [row] = await db
      .update(subscriptions)
      .set(set)
      .where(eq(subscriptions.id, id))
      .returning(subscriptionColumns);
    return row ? toSubscription(row) : null;
  }

  /** With its deliveries and their attempts (the foreign keys cascade). */
  async delete(id: SubscriptionId): Promise<void> {
    await this.db.delete(subscriptions).where(eq(subscriptions.id, id));
  }

  async secretOf(id: SubscriptionId): Promise<string | null> {
    const [row] = await this.db
      .select({ secret: subscriptions.secret })
      .from(subscriptions)
      .where(eq(subscriptions.id, id));
    return row?.secret ?? null;
  }
}
