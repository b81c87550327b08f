import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE_MS, parseDuration, parseRetryAfter, scheduleNextAttempt } from './retry-policy.ts';

const start = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(start.getTime() + ms);

describe('scheduleNextAttempt', () => {
  it('follows the default schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then gives up', () => {
    let now = start;
    const delays: number[] = [];
    for (let attemptsMade = 1; ; attemptsMade++) {
      const next = scheduleNextAttempt({ policy: {}, attemptsMade, firstAttemptAt: start, now, random: () => 0.5 });
      if (!next) break;
      delays.push(next.getTime() - now.getTime());
      now = next;
    }
    expect(delays).toEqual(DEFAULT_SCHEDULE_MS.slice(1));
    expect(delays).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
  });

  it('jitters each delay by at most 20% either way', () => {
    const low = scheduleNextAttempt({
      policy: {},
      attemptsMade: 2,
      firstAttemptAt: start,
      now: start,
      random: () => 0,
    });
    const high = scheduleNextAttempt({
      policy: {},
      attemptsMade: 2,
      firstAttemptAt: start,
      now: start,
      random: () => 0.999999,
    });
    expect(low).toEqual(at(240_000));
    expect((high as Date).getTime()).toBeLessThanOrEqual(360_000 + start.getTime());
    expect((high as Date).getTime()).toBeGreaterThan(359_000 + start.getTime());
  });

  it('honours max attempts, a custom schedule (its last delay repeating) and a max total time', () => {
    const custom = { scheduleMs: [0, 1_000, 2_000], maxAttempts: 5 };
    const steps = [1, 2, 3, 4, 5].map((attemptsMade) =>
      scheduleNextAttempt({ policy: custom, attemptsMade, firstAttemptAt: start, now: start, random: () => 0.5 }),
    );
    expect(steps).toEqual([at(1_000), at(2_000), at(2_000), at(2_000), null]);
    expect(
      scheduleNextAttempt({ policy: { maxAttempts: 1 }, attemptsMade: 1, firstAttemptAt: start, now: start }),
    ).toBeNull();
    const late = scheduleNextAttempt({
      policy: { maxTotalMs: 60_000 },
      attemptsMade: 2,
      firstAttemptAt: start,
      now: at(10_000),
      random: () => 0.5,
    });
    expect(late).toBeNull();
  });

  it('waits at least as long as Retry-After asks on 429 and 503, as seconds or as a date, and not on other statuses', () => {
    const base = { policy: {}, attemptsMade: 1, firstAttemptAt: start, now: start, random: () => 0.5 };
    expect(scheduleNextAttempt({ ...base, status: 429, retryAfter: '120' })).toEqual(at(120_000));
    expect(scheduleNextAttempt({ ...base, status: 503, retryAfter: at(600_000).toUTCString() })).toEqual(at(600_000));
    expect(scheduleNextAttempt({ ...base, status: 503, retryAfter: '1' })).toEqual(at(5_000));
    expect(scheduleNextAttempt({ ...base, status: 500, retryAfter: '120' })).toEqual(at(5_000));
    expect(scheduleNextAttempt({ ...base, status: 429, retryAfter: '999999999' })).toEqual(at(24 * 3_600_000));
    expect(scheduleNextAttempt({ ...base, status: 429, retryAfter: 'soon' })).toEqual(at(5_000));
  });
});

describe('parsing', () => {
  it('reads Retry-After and servo-webhooks durations', () => {
    expect(parseRetryAfter('30', start)).toBe(30_000);
    expect(parseRetryAfter(null, start)).toBeNull();
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('10')).toBe(10_000);
    expect(parseDuration('soon')).toBeNull();
  });
});
