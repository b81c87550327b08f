import { LRUCache } from 'lru-cache';
import type { Clock } from '../shared/clock.ts';

interface Entry {
  failures: number;
  lockedUntil: number;
}

export interface LoginThrottleOptions {
  /** Failures allowed before a key is locked out. */
  freeAttempts?: number;
  /** First lock-out; each further failure doubles it. */
  baseLockMs?: number;
  maxLockMs?: number;
}

/**
 * Slows down password guessing. Failures are counted per key (a username, a client address);
 * past the free attempts, the key is locked for a time that doubles with each further failure.
 * A locked key is refused without checking the password at all. State lives in the process:
 * each API process throttles on its own, which bounds guessing to N times the single-process rate.
 */
export class LoginThrottle {
  private readonly entries: LRUCache<string, Entry>;
  private readonly freeAttempts: number;
  private readonly baseLockMs: number;
  private readonly maxLockMs: number;

  constructor(
    private readonly clock: Clock,
    options: LoginThrottleOptions = {},
  ) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseLockMs = options.baseLockMs ?? 1_000;
    this.maxLockMs = options.maxLockMs ?? 15 * 60_000;
    // A key with no failure for an hour past its longest lock is forgotten.
    this.entries = new LRUCache({
      max: 50_000,
      ttl: this.maxLockMs + 60 * 60_000,
      perf: { now: () => clock.now().getTime() },
    });
  }

  /** Seconds the caller must wait before trying again, or 0 when it may try now. */
  retryAfterSeconds(keys: readonly string[]): number {
    const now = this.clock.now().getTime();
    let wait = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && entry.lockedUntil > now) wait = Math.max(wait, entry.lockedUntil - now);
    }
    return Math.ceil(wait / 1000);
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.clock.now().getTime();
    for (const key of keys) {
      const entry = this.entries.get(key) ?? { failures: 0, lockedUntil: 0 };
      entry.failures += 1;
      const over = entry.failures - this.freeAttempts;
      if (over >= 0) {
        entry.lockedUntil = now + Math.min(this.baseLockMs * 2 ** over, this.maxLockMs);
      }
      this.entries.set(key, entry);
    }
  }

  recordSuccess(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }
}
