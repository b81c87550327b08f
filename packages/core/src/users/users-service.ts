import { type Database, sessions, users } from '@switchboard/db';
import { and, asc, count, eq, ne, sql } from 'drizzle-orm';
import { isAdmin, type Principal, systemPrincipal, USER_ROLES, type UserRole } from '../access/principal.ts';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../auth/passwords.ts';
import type { Clock } from '../shared/clock.ts';
import { generateRandomString, isUuid } from '../shared/crypto.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import type { Logger } from '../shared/logger.ts';
import { clampPage, type Page, type PageRequest } from '../shared/pagination.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { hasNul } from '../shared/text-input.ts';

export interface User {
  id: string;
  username: string;
  role: UserRole;
  createdAt: Date;
  updatedAt: Date;
  passwordChangedAt: Date;
}

export interface UsersServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  /** A user was deleted or their role changed: tokens checked before may no longer be valid. */
  onTokensChanged?: () => Promise<void>;
}

const USERNAME_PATTERN = /^[\p{L}\p{N}](?:[\p{L}\p{N} ._@+-]{0,62}[\p{L}\p{N}])?$/u;

const userColumns = {
  id: users.id,
  username: users.username,
  role: users.role,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt,
  passwordChangedAt: users.passwordChangedAt,
};

export function checkUsername(username: string): string | null {
  if (!USERNAME_PATTERN.test(username)) {
    return 'must be 1 to 64 letters, digits, spaces or ._@+- and start and end with a letter or digit';
  }
  return null;
}

export class UsersService {
  constructor(private readonly deps: UsersServiceDeps) {}

  async getById(actor: Principal, id: string): Promise<Result<User>> {
    if (actor.user.id !== id && !isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can see other users');
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such user');
    const [user] = await this.deps.db.select(userColumns).from(users).where(eq(users.id, id));
    return user ? ok(user) : fail('NOT_FOUND', 'No such user');
  }

  /** Users by id in the order asked, null where none; the caller has already authorized the read. */
  async loadByIds(ids: readonly string[]): Promise<Array<User | null>> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await this.deps.db
      .select(userColumns)
      .from(users)
      .where(sql`${users.id} = any(${sql.param(valid)}::uuid[])`);
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async list(actor: Principal, page: Partial<PageRequest> = {}): Promise<Result<Page<User>>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can list users');
    const { offset, limit } = clampPage(page);
    const [items, [total]] = await Promise.all([
      this.deps.db.select(userColumns).from(users).orderBy(asc(users.username)).limit(limit).offset(offset),
      this.deps.db.select({ n: count() }).from(users),
    ]);
    return ok({ items, totalCount: total?.n ?? 0 });
  }

  async create(
    actor: Principal,
    input: { username: string; password: string; role?: UserRole; accountSource?: 'webhook-test' },
  ): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can create users');
    const role = input.role ?? 'member';
    const problems = [
      ['username', checkUsername(input.username)],
      ['password', checkPasswordPolicy(input.password)],
      ['role', USER_ROLES.includes(role) ? null : `must be one of ${USER_ROLES.join(', ')}`],
    ].filter((p): p is [string, string] => p[1] !== null);
    if (problems.length > 0) {
      return fail('INVALID', 'The user is not valid', {
        fields: problems.map(([path, message]) => ({ path, message })),
      });
    }
    const passwordHash = await hashPassword(input.password);
    try {
      const [user] = await this.deps.db
        .insert(users)
        .values({ username: input.username, passwordHash, role, accountSource: input.accountSource ?? null })
        .returning(userColumns);
      if (!user) throw new Error('insert returned no row');
      this.deps.logger.info({ userId: user.id, username: user.username, role }, 'user created');
      return ok(user);
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `The username "${input.username}" is taken`);
      throw error;
    }
  }

  async updateRole(actor: Principal, id: string, role: UserRole): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change roles');
    if (!USER_ROLES.includes(role)) return fail('INVALID', `The role must be one of ${USER_ROLES.join(', ')}`);
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such user');
    const result = await this.deps.db.transaction(async (tx) => {
      // Serialises role changes so two concurrent demotions cannot leave no admin at all.
      await tx.execute(sql`select pg_advisory_xact_lock(7415002312)`);
      if (role !== 'admin' && (await this.isLastAdmin(tx as unknown as Database, id))) {
        return fail<User>('CONFLICT', 'This is the last admin; make another admin first');
      }
      const [user] = await tx
        .update(users)
        .set({ role, updatedAt: this.deps.clock.now() })
        .where(eq(users.id, id))
        .returning(userColumns);
      return user ? ok(user) : fail<User>('NOT_FOUND', 'No such user');
    });
    // A demoted admin's tokens lose their admin scope on the next request.
    if (result.ok) await this.deps.onTokensChanged?.();
    return result;
  }

  async delete(actor: Principal, id: string): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can delete users');
    if (actor.user.id === id) return fail('CONFLICT', 'You cannot delete yourself');
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such user');
    const result = await this.deps.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(7415002312)`);
      if (await this.isLastAdmin(tx as unknown as Database, id)) {
        return fail<User>('CONFLICT', 'This is the last admin; make another admin first');
      }
      const [user] = await tx.delete(users).where(eq(users.id, id)).returning(userColumns);
      if (!user) return fail<User>('NOT_FOUND', 'No such user');
      this.deps.logger.info({ userId: id, by: actor.user.id }, 'user deleted');
      return ok(user);
    });
    if (result.ok) await this.deps.onTokensChanged?.();
    return result;
  }

  /** Needs the current password: a stolen session alone must not be enough to take the account. */
  async changeOwnPassword(
    actor: Principal,
    input: { currentPassword: string; newPassword: string },
  ): Promise<Result<User>> {
    if (actor.via === 'system') return fail('FORBIDDEN', 'The system actor has no password');
    const [row] = await this.deps.db
      .select({ passwordHash: users.passwordHash })
      .from(users)
      .where(eq(users.id, actor.user.id));
    if (!row) return fail('NOT_FOUND', 'No such user');
    if (!(await verifyPassword(row.passwordHash, input.currentPassword))) {
      return fail('INVALID', 'The current password is wrong', {
        fields: [{ path: 'currentPassword', message: 'is wrong' }],
      });
    }
    return this.writePassword(actor.user.id, input.newPassword);
  }

  /** An admin (or the CLI) sets someone's password without knowing the old one. */
  async setPassword(actor: Principal, id: string, password: string): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', "Only admins can set another user's password");
    return this.writePassword(id, password);
  }

  /**
   * Creates the first admin on an empty database. Returns the password when it generated one,
   * so that the caller can show it once.
   */
  async bootstrapAdmin(input: {
    username: string;
    password?: string | undefined;
  }): Promise<Result<{ created: boolean; generatedPassword?: string }>> {
    const [existing] = await this.deps.db.select({ n: count() }).from(users);
    if ((existing?.n ?? 0) > 0) return ok({ created: false });
    const generated = input.password ? undefined : generateRandomString(24);
    const password = input.password ?? (generated as string);
    const result = await this.create(systemPrincipal, { username: input.username, password, role: 'admin' });
    if (!result.ok) {
      // Another process bootstrapped at the same moment.
      if (result.error.code === 'CONFLICT') return ok({ created: false });
      return result;
    }
    return ok(generated ? { created: true, generatedPassword: generated } : { created: true });
  }

  async findByUsername(username: string): Promise<User | null> {
    // No username holds a NUL, and Postgres would refuse the lookup with a server error.
    if (hasNul(username)) return null;
    const [user] = await this.deps.db
      .select(userColumns)
      .from(users)
      .where(sql`lower(${users.username}) = lower(${username})`);
    return user ?? null;
  }

  private async writePassword(id: string, password: string): Promise<Result<User>> {
    if (!isUuid(id)) return fail('NOT_FOUND', 'No such user');
    const problem = checkPasswordPolicy(password);
    if (problem) {
      return fail('INVALID', `The new password ${problem}`, { fields: [{ path: 'password', message: problem }] });
    }
    const passwordHash = await hashPassword(password);
    const now = this.deps.clock.now();
    return this.deps.db.transaction(async (tx) => {
      const [user] = await tx
        .update(users)
        .set({ passwordHash, passwordChangedAt: now, updatedAt: now })
        .where(eq(users.id, id))
        .returning(userColumns);
      if (!user) return fail<User>('NOT_FOUND', 'No such user');
      // A new password ends every session that the old one opened.
      await tx.delete(sessions).where(eq(sessions.userId, id));
      this.deps.logger.info({ userId: id }, 'password changed; sessions ended');
      return ok(user);
    });
  }

  private async isLastAdmin(db: Database, id: string): Promise<boolean> {
    const [target] = await db.select({ role: users.role }).from(users).where(eq(users.id, id));
    if (target?.role !== 'admin') return false;
    const [others] = await db
      .select({ n: count() })
      .from(users)
      .where(and(eq(users.role, 'admin'), ne(users.id, id)));
    return (others?.n ?? 0) === 0;
  }
}
