import { type Database, sessions, users } from '@switchboard/db';
import { and, asc, count, eq, gt, inArray, lt, ne, type SQL, sql } from 'drizzle-orm';
import { isAdmin, type Principal, type UserRole } from '../access/principal.ts';
import type { NewSession } from '../auth/auth-service.ts';
import type { UserId } from '../shared/ids.ts';
import { hasNul } from '../shared/text-input.ts';

export interface User {
  id: UserId;
  username: string;
  role: UserRole;
  createdAt: Date;
  updatedAt: Date;
  passwordChangedAt: Date;
}

/** A user with how the account came to be: by the API, the config file, or a legacy tool's registration. */
export interface UserAccount extends User {
  canReload: boolean;
  managedBy: 'api' | 'config';
  accountSource: 'webhook-test' | null;
}

/** What the config file last said of the account, beside the account. */
export interface ConfigManagedAccount extends UserAccount {
  configPassHash: string | null;
}

/** What signing in needs: never leaves core. */
export interface UserCredentials {
  id: UserId;
  username: string;
  role: UserRole;
  passwordHash: string;
}

export interface LiveSession {
  lastSeenAt: Date;
  user: { id: UserId; username: string; role: UserRole };
}

type NewUser = typeof users.$inferInsert;

const userColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
  passwordChangedAt: users.passwordChangedAt,
};

const accountColumns = {
  ...userColumns,
  canReload: users.canReload,
  managedBy: users.managedBy,
  accountSource: users.accountSource,
  configPassHash: users.configPassHash,
};

const credentialColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  passwordHash: users.passwordHash,
};

/** The `users` table and the `sessions` that belong to them: their one owner. */
export class UserStore {
  private readonly db: Database;

  constructor(deps: { db: Database }) {
    this.db = deps.db;
  }

  /** The users a caller may see: themselves, or everyone for admins and the system. */
  visibleTo(actor: Principal): SQL | undefined {
    return isAdmin(actor) ? undefined : eq(users.id, actor.user.id);
  }

  async find(actor: Principal, id: UserId): Promise<User | null> {
    const [user] = await this.db
      .select(userColumns)
      .from(users)
      .where(and(eq(users.id, id), this.visibleTo(actor)));
    return user ?? null;
  }

  /** Users by id (uuids only), in no particular order. */
  async loadByIds(ids: readonly UserId[]): Promise<User[]> {
    return this.db
      .select(userColumns)
      .from(users)
      .where(sql`${users.id} = any(${sql.param(ids)}::uuid[])`);
  }

  /** By username, in the order of usernames, with how many there are in all. */
  async page(offset: number, limit: number): Promise<{ items: User[]; totalCount: number }> {
    const [items, [total]] = await Promise.all([
      this.db.select(userColumns).from(users).orderBy(asc(users.username)).limit(limit).offset(offset),
      this.db.select({ n: count() }).from(users),
    ]);
    return { items, totalCount: total?.n ?? 0 };
  }

  async count(): Promise<number> {
    const [existing] = await this.db.select({ n: count() }).from(users);
    return existing?.n ?? 0;
  }

  async findByUsername(username: string): Promise<User | null> {
    const where = this.usernameIs(username);
    if (!where) return null;
    const [row] = await this.db.select(userColumns).from(users).where(where);
    return row ?? null;
  }

  async findAccountByUsername(username: string): Promise<ConfigManagedAccount | null> {
    const where = this.usernameIs(username);
    if (!where) return null;
    const [row] = await this.db.select(accountColumns).from(users).where(where);
    return row ?? null;
  }

  async findCredentialsByUsername(username: string): Promise<UserCredentials | null> {
    const where = this.usernameIs(username);
    if (!where) return null;
    const [row] = await this.db.select(credentialColumns).from(users).where(where);
    return row ?? null;
  }

  async findCredentials(id: UserId): Promise<UserCredentials | null> {
    const [user] = await this.db.select(credentialColumns).from(users).where(eq(users.id, id));
    return user ?? null;
  }

  async exists(id: UserId): Promise<boolean> {
    const [row] = await this.db.select({ id: users.id }).from(users).where(eq(users.id, id));
    return row !== undefined;
  }

  async roleOf(id: UserId): Promise<UserRole | null> {
    const [row] = await this.db.select({ role: users.role }).from(users).where(eq(users.id, id));
    return row?.role ?? null;
  }

  async countAdminsExcept(id: UserId): Promise<number> {
    const [others] = await this.db
      .select({ n: count() })
      .from(users)
      .where(and(eq(users.role, 'admin'), ne(users.id, id)));
    return others?.n ?? 0;
  }

  /** The first admin made (ties broken by id). */
  async oldestAdmin(): Promise<User | null> {
    const [row] = await this.db
      .select(userColumns)
      .from(users)
      .where(eq(users.role, 'admin'))
      .orderBy(asc(users.createdAt), asc(users.id))
      .limit(1);
    return row ?? null;
  }

  async canReload(id: UserId): Promise<boolean> {
    const [row] = await this.db.select({ canReload: users.canReload }).from(users).where(eq(users.id, id));
    return row?.canReload ?? false;
  }

  /** Every user's id and username. */
  async listUsernames(): Promise<Array<{ id: UserId; username: string }>> {
    return this.db.select({ id: users.id, username: users.username }).from(users);
  }

  async listManagedByConfig(): Promise<Array<{ id: UserId; username: string }>> {
    return this.db.select({ id: users.id, username: users.username }).from(users).where(eq(users.managedBy, 'config'));
  }

  /** Throws a unique violation when the username is taken, whatever its case. */
  async insert(values: NewUser): Promise<User> {
    const [user] = await this.db.insert(users).values(values).returning(userColumns);
    if (!user) throw new Error('insert returned no row');
    return user;
  }

  /** Changes anything but the password (see setPassword); null when the user is gone. */
  async update(id: UserId, set: { role?: UserRole; canReload?: boolean; updatedAt: Date }): Promise<User | null> {
    const [user] = await this.db.update(users).set(set).where(eq(users.id, id)).returning(userColumns);
    return user ?? null;
  }

  /**
   * A new password: ends every session that the old one opened, in the same transaction. `config`
   * records the config file's own value alongside. Null when the user is gone.
   */
  async setPassword(
    id: UserId,
    passwordHash: string,
    at: Date,
    config?: { configPassHash: string; canReload: boolean },
  ): Promise<User | null> {
    return this.db.transaction(async (tx) => {
      const [user] = await tx
        .update(users)
        .set({ ...config, passwordHash, passwordChangedAt: at, updatedAt: at })
        .where(eq(users.id, id))
        .returning(userColumns);
      if (!user) return null;
      await tx.delete(sessions).where(eq(sessions.userId, id));
      return user;
    });
  }

  /** The same password stored in a stronger hash: not a new password, so sessions stay. */
  async upgradePasswordHash(id: UserId, passwordHash: string): Promise<void> {
    await this.db.update(users).set({ passwordHash }).where(eq(users.id, id));
  }

  /** Null when the user is gone; their tokens and sessions go with them (the foreign keys cascade). */
  async delete(id: UserId): Promise<User | null> {
    const [user] = await this.db.delete(users).where(eq(users.id, id)).returning(userColumns);
    return user ?? null;
  }

  async deleteMany(ids: readonly UserId[]): Promise<void> {
    await this.db.delete(users).where(inArray(users.id, [...ids]));
  }

  /**
   * Runs `work` in a transaction that holds the lock every role change and deletion takes, with a
   * store that works in that transaction.
   */
  async withRoleLock<T>(work: (store: UserStore) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      // Serialises role changes and deletions, so that two at once cannot leave no admin at all.
      await tx.execute(sql`select pg_advisory_xact_lock(7415002312)`);
      return work(new UserStore({ db: tx as unknown as Database }));
    });
  }

  async signingSecretOf(id: UserId): Promise<string | null> {
    const [row] = await this.db.select({ secret: users.signingSecret }).from(users).where(eq(users.id, id));
    return row?.secret ?? null;
  }

  /** False when the user is gone. */
  async setSigningSecret(id: UserId, secret: string, at: Date): Promise<boolean> {
    const [row] = await this.db
      .update(users)
      .set({ signingSecret: secret, updatedAt: at })
      .where(eq(users.id, id))
      .returning({ id: users.id });
    return row !== undefined;
  }

  async insertSession(session: NewSession): Promise<void> {
    await this.db.insert(sessions).values(session);
  }

  /** A session not yet expired at `now`, with its user. */
  async findLiveSession(id: string, now: Date): Promise<LiveSession | null> {
    const [row] = await this.db
      .select({
        lastSeenAt: sessions.lastSeenAt,
        user: { id: users.id, username: users.username, role: users.role },
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.id, id), gt(sessions.expiresAt, now)));
    return row ?? null;
  }

  async renewSession(id: string, lastSeenAt: Date, expiresAt: Date): Promise<void> {
    await this.db.update(sessions).set({ lastSeenAt, expiresAt }).where(eq(sessions.id, id));
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.delete(sessions).where(eq(sessions.id, id));
  }

  /** Resolves to how many were removed. */
  async deleteExpiredSessions(now: Date): Promise<number> {
    const gone = await this.db.delete(sessions).where(lt(sessions.expiresAt, now)).returning({ id: sessions.id });
    return gone.length;
  }

  /**
   * The one condition that finds a user by name: case-insensitive, as the unique index on
   * lower(username) is. Null for a name no user can have.
   */
  private usernameIs(username: string): SQL | null {
    // No username holds a NUL, and Postgres would refuse the lookup with a server error.
    if (hasNul(username)) return null;
    return sql`lower(${users.username}) = lower(${username})`;
  }
}
