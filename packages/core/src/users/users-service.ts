import type { Database } from '@switchboard/db';
import { isAdmin, type Principal, systemPrincipal, USER_ROLES, type UserRole } from '../access/principal.ts';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../auth/passwords.ts';
import type { Clock } from '../shared/clock.ts';
import { generateRandomString } from '../shared/crypto.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import { parseId, parseIdList, type UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { clampPage, type Page, type PageRequest } from '../shared/pagination.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { type User, type UserAccount, UserStore } from './user-store.ts';

export type { User, UserAccount } from './user-store.ts';

export interface UsersServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  /** A user was deleted or their role changed: tokens checked before may no longer be valid. */
  onTokensChanged?: () => Promise<void>;
}

const USERNAME_PATTERN = /^[\p{L}\p{N}](?:[\p{L}\p{N} ._@+-]{0,62}[\p{L}\p{N}])?$/u;

export function checkUsername(username: string): string | null {
  if (!USERNAME_PATTERN.test(username)) {
    return 'must be 1 to 64 letters, digits, spaces or ._@+- and start and end with a letter or digit';
  }
  return null;
}

export class UsersService {
  private readonly store: UserStore;

  constructor(private readonly deps: UsersServiceDeps) {
    this.store = new UserStore(deps);
  }

  async getById(actor: Principal, rawId: string): Promise<Result<User>> {
    if (actor.user.id !== rawId && !isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can see other users');
    const id = parseId<UserId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such user');
    const user = await this.store.find(actor, id);
    return user ? ok(user) : fail('NOT_FOUND', 'No such user');
  }

  /** Users by id in the order asked, null where none; the caller has already authorized the read. */
  async loadByIds(ids: readonly string[]): Promise<Array<User | null>> {
    const valid = parseIdList<UserId>(ids);
    if (valid.length === 0) return ids.map(() => null);
    const rows = await this.store.loadByIds(valid);
    const byId = new Map<string, User>(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async list(actor: Principal, page: Partial<PageRequest> = {}): Promise<Result<Page<User>>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can list users');
    const { offset, limit } = clampPage(page);
    return ok(await this.store.page(offset, limit));
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
      const user = await this.store.insert({
        username: input.username,
        passwordHash,
        role,
        accountSource: input.accountSource ?? null,
      });
      this.deps.logger.info({ userId: user.id, username: user.username, role }, 'user created');
      return ok(user);
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `The username "${input.username}" is taken`);
      throw error;
    }
  }

  async updateRole(actor: Principal, rawId: string, role: UserRole): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change roles');
    if (!USER_ROLES.includes(role)) return fail('INVALID', `The role must be one of ${USER_ROLES.join(', ')}`);
    const id = parseId<UserId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such user');
    const result = await this.store.withRoleLock(async (store) => {
      if (role !== 'admin' && (await isLastAdmin(store, id))) {
        return fail<User>('CONFLICT', 'This is the last admin; make another admin first');
      }
      const user = await store.update(id, { role, updatedAt: this.deps.clock.now() });
      return user ? ok(user) : fail<User>('NOT_FOUND', 'No such user');
    });
    // A demoted admin's tokens lose their admin scope on the next request.
    if (result.ok) await this.deps.onTokensChanged?.();
    return result;
  }

  async delete(actor: Principal, rawId: string): Promise<Result<User>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can delete users');
    if (actor.user.id === rawId) return fail('CONFLICT', 'You cannot delete yourself');
    const id = parseId<UserId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such user');
    const result = await this.store.withRoleLock(async (store) => {
      if (await isLastAdmin(store, id)) {
        return fail<User>('CONFLICT', 'This is the last admin; make another admin first');
      }
      const user = await store.delete(id);
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
    const row = await this.store.findCredentials(actor.user.id);
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
    if ((await this.store.count()) > 0) return ok({ created: false });
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
    return this.store.findByUsername(username);
  }

  /** The user of that name (any case) with how the account came to be; null when there is none. */
  async findAccount(actor: Principal, username: string): Promise<Result<UserAccount | null>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can look up accounts');
    const found = await this.store.findAccountByUsername(username);
    if (!found) return ok(null);
    const { configPassHash: _, ...account } = found;
    return ok(account);
  }

  /** The first admin made; null when there is none. */
  async oldestAdmin(actor: Principal): Promise<Result<User | null>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can look up admins');
    return ok(await this.store.oldestAdmin());
  }

  /** Whether the actor's own account may re-apply the config file (`can_reload`). */
  async canReload(actor: Principal): Promise<boolean> {
    return this.store.canReload(actor.user.id);
  }

  /** Every user's id and username; the caller has already authorized the read. */
  async listUsernames(): Promise<Array<{ id: UserId; username: string }>> {
    return this.store.listUsernames();
  }

  /**
   * The config file's users (`passHash` is stored as the password hash as it is): made when missing, updated when present, and those the file made
   * and no longer lists removed. The file's password is applied only when the file's value
   * changed: a password set since (setPassword, changeOwnPassword) survives a reload of an
   * unchanged file.
   */
  async applyConfigUsers(
    actor: Principal,
    listed: ReadonlyArray<{ username: string; passHash: string; canReload: boolean }>,
  ): Promise<Result<{ created: string[]; updated: string[]; removed: string[] }>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can apply the config file');
    const changes = { created: [] as string[], updated: [] as string[], removed: [] as string[] };
    const now = this.deps.clock.now();
    for (const user of listed) {
      const current = await this.store.findAccountByUsername(user.username);
      if (!current) {
        await this.store.insert({
          username: user.username,
          passwordHash: user.passHash,
          role: 'member',
          canReload: user.canReload,
          managedBy: 'config',
          configPassHash: user.passHash,
        });
        changes.created.push(user.username);
        continue;
      }
      const newPassword = current.managedBy === 'config' && current.configPassHash !== user.passHash;
      if (newPassword) {
        await this.store.setPassword(current.id, user.passHash, now, {
          configPassHash: user.passHash,
          canReload: user.canReload,
        });
      } else {
        await this.store.update(current.id, { canReload: user.canReload, updatedAt: now });
      }
      changes.updated.push(user.username);
    }
    const wanted = new Set(listed.map((u) => u.username.toLowerCase()));
    const gone = (await this.store.listManagedByConfig()).filter((u) => !wanted.has(u.username.toLowerCase()));
    if (gone.length > 0) {
      await this.store.deleteMany(gone.map((u) => u.id));
      changes.removed.push(...gone.map((u) => u.username));
      await this.deps.onTokensChanged?.();
    }
    return ok(changes);
  }

  private async writePassword(rawId: string, password: string): Promise<Result<User>> {
    const id = parseId<UserId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such user');
    const problem = checkPasswordPolicy(password);
    if (problem) {
      return fail('INVALID', `The new password ${problem}`, { fields: [{ path: 'password', message: problem }] });
    }
    const passwordHash = await hashPassword(password);
    // A new password ends every session that the old one opened.
    const user = await this.store.setPassword(id, passwordHash, this.deps.clock.now());
    if (!user) return fail('NOT_FOUND', 'No such user');
    this.deps.logger.info({ userId: id }, 'password changed; sessions ended');
    return ok(user);
  }
}

async function isLastAdmin(store: UserStore, id: UserId): Promise<boolean> {
  if ((await store.roleOf(id)) !== 'admin') return false;
  return (await store.countAdminsExcept(id)) === 0;
}
