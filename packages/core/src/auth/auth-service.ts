import { LRUCache } from 'lru-cache';
import { type Principal, scopesForRole, type UserRole } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import { generateRandomString, hashSha256Hex } from '../shared/crypto.ts';
import type { UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { LoginThrottle, type LoginThrottleOptions } from './login-throttle.ts';
import { getDummyHash, hashPassword, needsRehash, verifyPassword } from './passwords.ts';

interface Credentials {
  id: UserId;
  username: string;
  role: UserRole;
  passwordHash: string;
}

/** A console session as it is stored. */
export interface NewSession {
  id: string;
  userId: UserId;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
}

/** What signing in needs of the stored users and their sessions (the user store). */
export interface AuthStore {
  findCredentials(id: UserId): Promise<Credentials | null>;
  findCredentialsByUsername(username: string): Promise<Credentials | null>;
  upgradePasswordHash(id: UserId, passwordHash: string): Promise<void>;
  insertSession(session: NewSession): Promise<void>;
  findLiveSession(
    id: string,
    now: Date,
  ): Promise<{ lastSeenAt: Date; user: { id: UserId; username: string; role: UserRole } } | null>;
  renewSession(id: string, lastSeenAt: Date, expiresAt: Date): Promise<void>;
  deleteSession(id: string): Promise<void>;
  deleteExpiredSessions(now: Date): Promise<number>;
}

export interface AuthServiceDeps {
  clock: Clock;
  logger: Logger;
  store: AuthStore;
  tokens: { authenticate(token: string): Promise<Principal | null> };
  /** How long a verified Basic credential is trusted without running argon2 again. */
  basicCacheTtlMs?: number;
  sessionTtlMs?: number;
  /** Per username, and (more lenient, as many users may share an address) per client address. */
  throttle?: { user?: LoginThrottleOptions; ip?: LoginThrottleOptions };
}

export interface SessionStart {
  principal: Principal;
  /** The cookie value; only its hash is stored. */
  sessionToken: string;
  expiresAt: Date;
}

export interface ClientInfo {
  ip?: string | undefined;
  userAgent?: string | undefined;
}

/** One message for every kind of failed login, so that a caller cannot tell which part was wrong. */
export const INVALID_CREDENTIALS = 'Invalid username or password';

const SESSION_SLIDE_MS = 60 * 60_000;

interface CachedCredential {
  userId: UserId;
  passwordHash: string;
}

export class AuthService {
  private readonly userThrottle: LoginThrottle;
  private readonly ipThrottle: LoginThrottle;
  private readonly basicCache: LRUCache<string, CachedCredential>;
  private readonly sessionTtlMs: number;

  constructor(private readonly deps: AuthServiceDeps) {
    this.userThrottle = new LoginThrottle(deps.clock, { freeAttempts: 5, ...deps.throttle?.user });
    this.ipThrottle = new LoginThrottle(deps.clock, { freeAttempts: 50, ...deps.throttle?.ip });
    this.basicCache = new LRUCache({ max: 10_000, ttl: deps.basicCacheTtlMs ?? 60_000 });
    this.sessionTtlMs = deps.sessionTtlMs ?? 7 * 24 * 60 * 60_000;
  }

  /**
   * Checks a username and password. A credential verified in the last minute is taken from a
   * cache keyed by its hash, and still checked against the stored password hash, so a password
   * change anywhere ends it at once. A locked-out username is refused even with a cached credential.
   */
  async verifyCredentials(username: string, password: string, client: ClientInfo = {}): Promise<Result<Principal>> {
    const userKey = [username.toLowerCase()];
    const ipKey = client.ip ? [client.ip] : [];
    const wait = Math.max(this.userThrottle.retryAfterSeconds(userKey), this.ipThrottle.retryAfterSeconds(ipKey));
    if (wait > 0) {
      return fail('RATE_LIMITED', `Too many failed logins; try again in ${wait} s`, { retryAfterSeconds: wait });
    }

    const cacheKey = hashSha256Hex(`${username.toLowerCase()}\u0000${password}`);
    const cached = this.basicCache.get(cacheKey);
    if (cached) {
      const user = await this.deps.store.findCredentials(cached.userId);
      if (user && user.passwordHash === cached.passwordHash) return ok(this.principalFor(user, 'password'));
      this.basicCache.delete(cacheKey);
    }

    const user = await this.deps.store.findCredentialsByUsername(username);
    // Unknown users cost as much as known ones, so that timing does not reveal which exist.
    const valid = user
      ? await verifyPassword(user.passwordHash, password)
      : await verifyPassword(await getDummyHash(), password).then(() => false);
    if (!user || !valid) {
      this.userThrottle.recordFailure(userKey);
      this.ipThrottle.recordFailure(ipKey);
      this.deps.logger.warn({ username, ip: client.ip }, 'failed login');
      return fail('UNAUTHENTICATED', INVALID_CREDENTIALS);
    }
    this.userThrottle.recordSuccess(userKey);

    let passwordHash = user.passwordHash;
    if (needsRehash(passwordHash)) {
      passwordHash = await hashPassword(password);
      await this.deps.store.upgradePasswordHash(user.id, passwordHash);
    }
    this.basicCache.set(cacheKey, { userId: user.id, passwordHash });
    return ok(this.principalFor(user, 'password'));
  }

  async authenticateToken(token: string): Promise<Principal | null> {
    return this.deps.tokens.authenticate(token);
  }

  async login(username: string, password: string, client: ClientInfo = {}): Promise<Result<SessionStart>> {
    const verified = await this.verifyCredentials(username, password, client);
    if (!verified.ok) return verified;
    return ok(await this.startSession(verified.value.user.id, client));
  }

  async startSession(userId: UserId, client: ClientInfo = {}): Promise<SessionStart> {
    const user = await this.deps.store.findCredentials(userId);
    if (!user) throw new Error(`startSession: no user ${userId}`);
    const sessionToken = generateRandomString(43);
    const id = hashSha256Hex(sessionToken);
    const now = this.deps.clock.now();
    const expiresAt = new Date(now.getTime() + this.sessionTtlMs);
    await this.deps.store.insertSession({
      id,
      userId,
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      ip: client.ip ?? null,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
    });
    return { principal: { ...this.principalFor(user, 'session'), sessionId: id }, sessionToken, expiresAt };
  }

  /** A live session's principal; sliding expiry, refreshed at most hourly. */
  async authenticateSession(sessionToken: string): Promise<Principal | null> {
    if (sessionToken.length === 0 || sessionToken.length > 128) return null;
    const id = hashSha256Hex(sessionToken);
    const now = this.deps.clock.now();
    const row = await this.deps.store.findLiveSession(id, now);
    if (!row) return null;
    const principal: Principal = { ...this.principalFor(row.user, 'session'), sessionId: id };
    if (now.getTime() - row.lastSeenAt.getTime() > SESSION_SLIDE_MS) {
      const expiresAt = new Date(now.getTime() + this.sessionTtlMs);
      await this.deps.store.renewSession(id, now, expiresAt);
      principal.sessionRenewedUntil = expiresAt;
    }
    return principal;
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionId) await this.deps.store.deleteSession(principal.sessionId);
  }

  async deleteExpiredSessions(): Promise<number> {
    return this.deps.store.deleteExpiredSessions(this.deps.clock.now());
  }

  private principalFor(user: { id: UserId; username: string; role: UserRole }, via: 'password' | 'session'): Principal {
    return { user: { id: user.id, username: user.username, role: user.role }, via, scopes: scopesForRole(user.role) };
  }
}
