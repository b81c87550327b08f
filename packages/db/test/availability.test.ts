import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DatabaseAvailability, DatabaseUnavailableError } from '../src/availability.ts';

/** A promise settled from outside, standing for a statement or a probe. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Where a guarded call stands, read without waiting for it. */
function track<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { status: 'pending' };
  promise.then(
    (value) => Object.assign(state, { status: 'resolved', value }),
    (error: unknown) => Object.assign(state, { status: 'rejected', error }),
  );
  return state;
}

const QUERY_TIMEOUT_MS = 10_000;
const STALL_MS = 500;

describe('DatabaseAvailability', () => {
  let availability: DatabaseAvailability | undefined;
  const changes: boolean[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
    changes.length = 0;
  });
  afterEach(() => {
    availability?.close();
    vi.useRealTimers();
  });

  const create = (probe: () => Promise<void>) => {
    availability = new DatabaseAvailability({
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      stallMs: STALL_MS,
      graceMs: 1_000,
      probeIntervalMs: 250,
      probe,
      onChange: (available) => changes.push(available),
    });
    return availability;
  };

  it('finding 7: a busy database whose probe is refused for too many connections is not marked down', async () => {
    const probe = vi.fn(async () => {
      throw Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
    });
    const guard = create(probe);
    const slow = deferred<string>();
    const call = track(guard.guard(() => slow.promise));
    await vi.advanceTimersByTimeAsync(STALL_MS * 3);
    expect(probe).toHaveBeenCalled();
    expect(guard.available).toBe(true);
    expect(changes).toEqual([]);
    slow.resolve('answered');
    await vi.advanceTimersByTimeAsync(0);
    expect(call).toMatchObject({ status: 'resolved', value: 'answered' });
  });

  it('finding 7: a probe that times out while pool calls keep completing does not mark the database down', async () => {
    const probeResult = deferred();
    const probe = vi.fn(() => probeResult.promise);
    const guard = create(probe);
    const slow = deferred<string>();
    const call = track(guard.guard(() => slow.promise));
    await vi.advanceTimersByTimeAsync(STALL_MS * 2);
    expect(probe).toHaveBeenCalledTimes(1);
    // While the probe waits for a backend, the pool's connections go on answering.
    expect(await guard.guard(async () => 'quick')).toBe('quick');
    probeResult.reject(new DatabaseUnavailableError('no answer within 1000 ms'));
    await vi.advanceTimersByTimeAsync(0);
    expect(guard.available).toBe(true);
    expect(changes).toEqual([]);
    expect(call.status).toBe('pending');
    slow.resolve('answered');
    await vi.advanceTimersByTimeAsync(0);
    expect(call).toMatchObject({ status: 'resolved', value: 'answered' });
  });

  it('finding 7: a probe that times out with no call answering still marks the database down', async () => {
    const guard = create(async () => {
      throw new DatabaseUnavailableError('no answer within 1000 ms');
    });
    const call = track(guard.guard(() => new Promise(() => {})));
    await vi.advanceTimersByTimeAsync(STALL_MS * 3);
    expect(guard.available).toBe(false);
    expect(changes).toEqual([false]);
    expect(call.status).toBe('rejected');
  });

  it('finding 7: a statement past its deadline is cancelled on the server, and its caller gets the outcome', async () => {
    const guard = create(async () => {});
    const slow = deferred<string>();
    const cancelled = Object.assign(new Error('canceling statement due to user request'), { code: '57014' });
    const cancel = vi.fn(() => slow.reject(cancelled));
    const call = track(guard.guard(() => slow.promise, { cancel }));
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS + 200);
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(call).toMatchObject({ status: 'rejected', error: cancelled });
    expect(guard.available).toBe(true);
  });

  it('finding 7: a statement that finishes as it is cancelled at its deadline reports its result', async () => {
    const guard = create(async () => {});
    const slow = deferred<string>();
    const cancel = vi.fn(() => slow.resolve('committed'));
    const call = track(guard.guard(() => slow.promise, { cancel }));
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS + 200);
    expect(call).toMatchObject({ status: 'resolved', value: 'committed' });
  });

  it('finding 7: a COMMIT in flight at the deadline is left to the server, not failed by the client', async () => {
    const guard = create(async () => {});
    const commit = deferred<string>();
    const cancel = vi.fn();
    const call = track(guard.guard(() => commit.promise, { cancel, committing: () => true }));
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS + 500);
    expect(call.status).toBe('pending');
    expect(cancel).not.toHaveBeenCalled();
    commit.resolve('committed');
    await vi.advanceTimersByTimeAsync(0);
    expect(call).toMatchObject({ status: 'resolved', value: 'committed' });
  });

  it('finding 7: time spent waiting for a pool connection does not count against the deadline', async () => {
    const guard = create(async () => {});
    const slow = deferred<string>();
    let sent = false;
    const call = track(guard.guard(() => slow.promise, { sent: () => sent, cancel: () => {} }));
    await vi.advanceTimersByTimeAsync(5_000);
    sent = true;
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS - 1_000);
    expect(call.status).toBe('pending');
    slow.resolve('answered');
    await vi.advanceTimersByTimeAsync(0);
    expect(call).toMatchObject({ status: 'resolved', value: 'answered' });
  });

  it('finding 7: a call still waiting for a connection at the deadline is withdrawn and failed', async () => {
    const guard = create(async () => {});
    const cancel = vi.fn();
    const call = track(guard.guard(() => new Promise(() => {}), { sent: () => false, cancel }));
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS + 200);
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(call.status).toBe('rejected');
    expect(call.error).toBeInstanceOf(DatabaseUnavailableError);
  });

  it('finding 7: a cancelled statement that never answers is failed once the grace period is over', async () => {
    const guard = create(async () => {});
    const cancel = vi.fn();
    const call = track(guard.guard(() => new Promise(() => {}), { cancel }));
    await vi.advanceTimersByTimeAsync(QUERY_TIMEOUT_MS + 200);
    expect(cancel).toHaveBeenCalledTimes(1);
    expect(call.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(call.status).toBe('rejected');
    expect(call.error).toBeInstanceOf(DatabaseUnavailableError);
  });
});
