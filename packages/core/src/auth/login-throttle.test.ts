import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './login-throttle.ts';

function fakeClock(start = 0) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

describe('LoginThrottle', () => {
  it('allows the free attempts, then locks for a time that doubles with each failure', () => {
    const clock = fakeClock();
    const throttle = new LoginThrottle(clock, { freeAttempts: 3, baseLockMs: 1_000, maxLockMs: 10_000 });
    const key = ['alice'];
    throttle.recordFailure(key);
    throttle.recordFailure(key);
    expect(throttle.retryAfterSeconds(key)).toBe(0);
    throttle.recordFailure(key);
    expect(throttle.retryAfterSeconds(key)).toBe(1);
    clock.advance(1_000);
    expect(throttle.retryAfterSeconds(key)).toBe(0);
    throttle.recordFailure(key);
    expect(throttle.retryAfterSeconds(key)).toBe(2);
    throttle.recordFailure(key);
    expect(throttle.retryAfterSeconds(key)).toBe(4);
    for (let i = 0; i < 10; i++) throttle.recordFailure(key);
    expect(throttle.retryAfterSeconds(key)).toBe(10);
  });

  it('forgets a key after a success and keeps keys apart', () => {
    const throttle = new LoginThrottle(fakeClock(), { freeAttempts: 1 });
    throttle.recordFailure(['a']);
    expect(throttle.retryAfterSeconds(['a'])).toBeGreaterThan(0);
    expect(throttle.retryAfterSeconds(['b'])).toBe(0);
    expect(throttle.retryAfterSeconds(['b', 'a'])).toBeGreaterThan(0);
    throttle.recordSuccess(['a']);
    expect(throttle.retryAfterSeconds(['a'])).toBe(0);
  });
});
