import type { Database } from '@switchboard/db';
import {
  hasScope,
  isAdmin,
  type Principal,
  SCOPES,
  type Scope,
  scopesForRole,
  type UserRole,
} from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import { compareConstantTime, generateRandomString, hashSha256Hex } from '../shared/crypto.ts';
import { isUniqueViolation } from '../shared/db-errors.ts';
import { parseId, type UserId } from '../shared/ids.ts';
import { INSTANT_RANGE_PROBLEM, isStorableInstant } from '../shared/instant.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { identifierProblem } from '../shared/text-input.ts';
import { type ApiToken, type TokenRow, TokenStore } from './token-store.ts';

export type { ApiToken } from './token-store.ts';

export interface TokensServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub?: PubSub;
  /** The role of a token's would-be owner; null when there is no such user (the user store). */
  owners: { roleOf(userId: UserId): Promise<UserRole | null> };
}

/** A token checked against the database is believed this long, unless a change is announced first. */
const CACHE_MS = 5_000;

const ID_LENGTH = 16;
const SECRET_LENGTH = 40;
const TOKEN_PATTERN = new RegExp(`^sb_([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})$`);
/** last_used_at is a hint, not an audit log: write it at most this often per token. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** Splits `sb_<id>_<secret>` into its id (public) and secret; null when it is not of that shape. */
export function parseToken(token: string): { id: string; secret: string } | null {
  const match = TOKEN_PATTERN.exec(token);
  return match ? { id: match[1] as string, secret: match[2] as string } : null;
}

export function formatToken(id: string, secret: string): string {
  return `sb_${id}_${secret}`;
}

export class TokensService {
  private readonly store: TokenStore;
  /**
   * Look-ups of recent requests, so that a busy client costs one query every few seconds rather
   * than one per request. Anything that can end a token's validity (revocation, its user deleted
   * or demoted) clears it here at once and in other processes through NOTIFY; CACHE_MS bounds the
   * wait should a notification be lost.
   */
  private readonly cache = new Map<string, { row: TokenRow | undefined; at: number }>();
  /** Moves on every change, so that a look-up begun before it does not cache what it read. */
  private generation = 0;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly deps: TokensServiceDeps) {
    this.store = new TokenStore(deps);
  }

  async create(
    actor: Principal,
    input: { name: string; scopes: readonly string[]; userId?: string | undefined; expiresAt?: Date | null },
  ): Promise<Result<{ token: ApiToken; secret: string }>> {
    const rawUserId = input.userId ?? actor.user.id;
    if (!hasScope(actor, 'tokens:write')) return fail('FORBIDDEN', 'Creating tokens needs the tokens:write scope');
    if (rawUserId !== actor.user.id && !isAdmin(actor)) {
      return fail('FORBIDDEN', 'Only admins can create tokens for other users');
    }
    const userId = parseId<UserId>(rawUserId);
    const ownerRole = userId ? await this.deps.owners.roleOf(userId) : null;
    if (!userId || !ownerRole) return fail('NOT_FOUND', 'No such user');

    const problems = this.checkInput(input, ownerRole, actor);
    if (problems.length > 0) return fail('INVALID', 'The token is not valid', { fields: problems });

    const id = generateRandomString(ID_LENGTH);
    const secret = generateRandomString(SECRET_LENGTH);
    try {
      const token = await this.store.insert({
        id,
        userId,
        name: input.name,
        scopes: [...new Set(input.scopes)],
        secretHash: hashSha256Hex(secret),
        expiresAt: input.expiresAt ?? null,
      });
      this.deps.logger.info({ tokenId: id, userId, scopes: token.scopes, by: actor.user.id }, 'token created');
      return ok({ token, secret: formatToken(id, secret) });
    } catch (error) {
      if (isUniqueViolation(error)) return fail('CONFLICT', `A live token named "${input.name}" already exists`);
      throw error;
    }
  }

  /** The actor's own tokens, or, for an admin, any user's (`userId`) or everyone's (`userId: null`). */
  async list(
    actor: Principal,
    filter: { userId?: string | null | undefined; includeRevoked?: boolean } = {},
  ): Promise<Result<ApiToken[]>> {
    const rawUserId = filter.userId === undefined ? actor.user.id : filter.userId;
    if (rawUserId !== actor.user.id && !isAdmin(actor)) {
      return fail('FORBIDDEN', "Only admins can see other users' tokens");
    }
    const userId = rawUserId === null ? null : parseId<UserId>(rawUserId);
    if (rawUserId !== null && userId === null) return ok([]);
    return ok(await this.store.list(userId, filter.includeRevoked ?? false));
  }

  async revoke(actor: Principal, id: string): Promise<Result<ApiToken>> {
    if (!hasScope(actor, 'tokens:write')) return fail('FORBIDDEN', 'Revoking tokens needs the tokens:write scope');
    // Someone else's token is reported as missing, so that ids cannot be probed.
    const token = await this.store.find(actor, id);
    if (!token) return fail('NOT_FOUND', 'No such token');
    if (token.revokedAt) return ok(token);
    const revoked = await this.store.revoke(id, this.deps.clock.now());
    await this.changed(id);
    this.deps.logger.info({ tokenId: id, by: actor.user.id }, 'token revoked');
    return ok(revoked ?? token);
  }

  /**
   * Checks a presented token against the database on every call, so that a revocation takes
   * effect on the very next request.
   */
  async authenticate(presented: string): Promise<Principal | null> {
    const parsed = parseToken(presented);
    if (!parsed) return null;
    const row = await this.find(parsed.id);
    const presentedHash = hashSha256Hex(parsed.secret);
    if (!row || !compareConstantTime(row.secretHash, presentedHash)) return null;
    const now = this.deps.clock.now();
    if (row.token.revokedAt || (row.token.expiresAt && row.token.expiresAt <= now)) return null;
    if (!row.token.lastUsedAt || now.getTime() - row.token.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.store.touch(parsed.id, now);
      // The cached record too, or every cached hit would write it again.
      row.token.lastUsedAt = now;
    }
    // A token never carries more than its owner's role allows today (a demoted admin's admin token
    // loses the admin scope).
    const allowed = scopesForRole(row.user.role);
    return {
      user: row.user,
      via: 'token',
      tokenId: row.token.id,
      scopes: (row.token.scopes as Scope[]).filter((s) => allowed.includes(s)),
    };
  }

  /** Hears other processes' revocations and user changes. */
  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub?.listen(CHANNELS.tokens, (id) => this.forget(id));
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /**
   * A token (by id), or every token (`*`: a user was deleted or demoted), may have lost its
   * validity: forget it here and tell the other processes.
   */
  async changed(id = '*'): Promise<void> {
    this.forget(id);
    await this.deps.pubsub?.notify(CHANNELS.tokens, id);
  }

  private forget(id: string): void {
    this.generation++;
    if (id === '*') this.cache.clear();
    else this.cache.delete(id);
  }

  private async find(id: string): Promise<TokenRow | undefined> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.row;
    const generation = this.generation;
    const row = await this.store.lookUp(id);
    if (generation !== this.generation) return row;
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(id, { row, at: Date.now() });
    return row;
  }

  private checkInput(
    input: { name: string; scopes: readonly string[]; expiresAt?: Date | null },
    ownerRole: UserRole,
    actor: Principal,
  ): Array<{ path: string; message: string }> {
    const problems: Array<{ path: string; message: string }> = [];
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100 || name !== input.name) {
      problems.push({ path: 'name', message: 'must be 1 to 100 characters without surrounding spaces' });
    } else {
      const problem = identifierProblem(name, 'name');
      if (problem) problems.push(problem);
    }
    if (input.scopes.length === 0) problems.push({ path: 'scopes', message: 'must name at least one scope' });
    for (const scope of input.scopes) {
      if (!SCOPES.includes(scope as Scope)) {
        problems.push({ path: 'scopes', message: `"${scope}" is not a scope; known: ${SCOPES.join(', ')}` });
      } else if (!scopesForRole(ownerRole).includes(scope as Scope)) {
        problems.push({ path: 'scopes', message: `"${scope}" is beyond what the owner's role allows` });
      } else if (!hasScope(actor, scope as Scope)) {
        problems.push({ path: 'scopes', message: `"${scope}" is beyond what your own credentials allow` });
      }
    }
    if (input.expiresAt && input.expiresAt <= this.deps.clock.now()) {
      problems.push({ path: 'expiresAt', message: 'must be in the future' });
    } else if (input.expiresAt && !isStorableInstant(input.expiresAt)) {
      problems.push({ path: 'expiresAt', message: INSTANT_RANGE_PROBLEM });
    }
    return problems;
  }
}
