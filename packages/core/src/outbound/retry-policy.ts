/**
 * When a failed delivery is tried again. The default schedule (docs/delivery.md): immediately, then
 * 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later, each delay within ±20% so that retries of
 * many deliveries do not arrive together.
 */
export const DEFAULT_SCHEDULE_MS: readonly number[] = [
  0,
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

const JITTER = 0.2;
/** A Retry-After further away than this is not believed. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

export interface RetryPolicy {
  /** Delay before each attempt, the first (normally 0) included; the last repeats if attempts outnumber it. */
  scheduleMs?: readonly number[];
  /** Attempts in all, the first included; default: the schedule's length. 1 means no retries. */
  maxAttempts?: number;
  /** No attempt starts later than this after the first one. */
  maxTotalMs?: number;
}

export interface RetryInput {
  policy: RetryPolicy;
  /** Attempts made so far, the one that just failed included. */
  attemptsMade: number;
  firstAttemptAt: Date;
  now: Date;
  /** The failed attempt's Retry-After header, honoured for 429 and 503. */
  retryAfter?: string | null;
  status?: number | null;
  random?: () => number;
}

/** How many attempts a policy allows in all, the first included. */
export function allowedAttempts(policy: RetryPolicy): number {
  const schedule = policy.scheduleMs?.length ? policy.scheduleMs : DEFAULT_SCHEDULE_MS;
  return policy.maxAttempts ?? schedule.length;
}

/** When to try again, or null when the delivery has had all the attempts it gets. */
export function scheduleNextAttempt(input: RetryInput): Date | null {
  const schedule = input.policy.scheduleMs?.length ? input.policy.scheduleMs : DEFAULT_SCHEDULE_MS;
  if (input.attemptsMade >= allowedAttempts(input.policy)) return null;
  const planned = schedule[Math.min(input.attemptsMade, schedule.length - 1)] ?? 0;
  const random = input.random ?? Math.random;
  let delay = planned * (1 - JITTER + 2 * JITTER * random());
  if (input.status === 429 || input.status === 503) {
    const asked = parseRetryAfter(input.retryAfter, input.now);
    // Never sooner than the receiver asked; never later than the schedule would have come anyway
    // plus what it asked, so a hostile header cannot park a delivery for ever.
    if (asked !== null) delay = Math.max(delay, Math.min(asked, MAX_RETRY_AFTER_MS));
  }
  const next = new Date(input.now.getTime() + Math.round(delay));
  if (
    input.policy.maxTotalMs !== undefined &&
    next.getTime() - input.firstAttemptAt.getTime() > input.policy.maxTotalMs
  ) {
    return null;
  }
  return next;
}

/** `Retry-After` as seconds or as an HTTP date, in milliseconds from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now.getTime());
}

/** Durations as servo-webhooks writes them: `30s`, `5m`, `2h`, `1d`, or milliseconds as a number. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    (match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Math.round(Number(match[1]) * unit);
}
