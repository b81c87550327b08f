import type postgres from 'postgres';
import { type CallControl, DatabaseUnavailableError } from './availability.ts';

/**
 * The pool's calls as the availability guard needs them: each statement and each transaction
 * run under it, with what the guard may learn of their progress and how to cancel them.
 */

type Sql = ReturnType<typeof postgres>;
export type Guard = <T>(call: () => PromiseLike<T>, control?: CallControl) => Promise<T>;
/** What postgres.js's queries show of their progress (`state` is set once a connection has it). */
type PendingQuery = PromiseLike<unknown> & { state?: unknown; cancel(): unknown; canceller?: unknown };

/**
 * postgres.js's `cancel()` drops the promise of the cancel request, whose connection may fail as
 * the server does: called through its canceller when there is one, that failure is caught.
 */
function cancelQuery(query: PendingQuery): void {
  const canceller = query.canceller;
  if (typeof canceller !== 'function') {
    query.cancel();
    return;
  }
  query.canceller = null;
  Promise.resolve(canceller(query)).catch(() => {});
}

/** A single statement: sent once a connection has it, cancelled on the server at its deadline. */
export function queryControl(query: PendingQuery): CallControl {
  return { sent: () => Boolean(query.state), cancel: () => cancelQuery(query) };
}

/**
 * A transaction, guarded as a whole: sent once BEGIN has run (the callback is called), committing
 * once the callback has returned. Cancelled at its deadline, its running statement is cancelled on
 * the server, later ones fail before they run, and a callback that still returns is made to fail,
 * so that postgres.js rolls back instead of committing what the caller was told failed.
 */
class TransactionControl implements CallControl {
  private started = false;
  private done = false;
  private abandoned = false;
  /**
   * The transaction's statements (a few; they go when it does). Cancelling one that has finished
   * only marks it: postgres.js sends a cancel for a statement only while it is on a connection.
   */
  private readonly statements = new Set<PendingQuery>();

  readonly sent = () => this.started;
  readonly committing = () => this.done;

  readonly cancel = () => {
    this.abandoned = true;
    for (const query of this.statements) cancelQuery(query);
  };

  readonly track: Track = (query) => {
    // Thrown before the statement runs: postgres.js cannot withdraw one from a transaction's queue.
    this.failIfAbandoned();
    this.statements.add(query);
  };

  async run<T>(callback: () => T | PromiseLike<T>): Promise<T> {
    this.failIfAbandoned();
    this.started = true;
    const result = await callback();
    this.failIfAbandoned();
    this.done = true;
    return result;
  }

  private failIfAbandoned(): void {
    if (this.abandoned) throw new DatabaseUnavailableError('The transaction ran past its deadline');
  }
}

/**
 * A postgres.js query as drizzle-orm uses it (`.values()`, then awaited), run under the guard:
 * awaiting it awaits the guarded call, which starts the query.
 */
function guarded<T extends object>(query: T, guard: Guard): T {
  const pending = query as unknown as PendingQuery;
  let result: Promise<unknown> | undefined;
  const settle = () => {
    result ??= guard(() => pending, queryControl(pending));
    return result;
  };
  return new Proxy(query, {
    get(target, property, receiver) {
      if (property === 'then') {
        return (onValue?: (value: unknown) => unknown, onError?: (error: unknown) => unknown) =>
          settle().then(onValue, onError);
      }
      if (property === 'catch') return (onError?: (error: unknown) => unknown) => settle().catch(onError);
      if (property === 'finally') return (onFinally?: () => void) => settle().finally(onFinally);
      return Reflect.get(target, property, receiver);
    },
  });
}

type Scope = (...args: unknown[]) => Promise<unknown>;
/** Told of each statement a transaction sends, so that it can be cancelled; throws once it was. */
type Track = (query: PendingQuery) => void;

/**
 * Drizzle sends its queries through postgres.js's `unsafe`, unprepared, which costs a round trip
 * to describe the parameters before every execution. Prepared (named, per connection, as
 * postgres.js does for its own tagged queries) the description happens once per statement and
 * connection, and every later execution is one round trip. Transactions get the same client.
 */
export function preparingStatements<T extends Sql>(client: T, guard?: Guard, track?: Track): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, args?: unknown[], options?: Record<string, unknown>) => {
          const pending = target.unsafe(query, args as never, { ...options, prepare: true });
          if (guard) return guarded(pending, guard);
          track?.(pending as unknown as PendingQuery);
          return pending;
        };
      }
      if (property === 'begin') {
        // A transaction is guarded as a whole; the statements inside it are not, one by one.
        return (...args: unknown[]) => {
          const callback = args[args.length - 1] as (tx: Sql) => unknown;
          const begin = (target.begin as Scope).bind(target);
          if (!guard) return begin(...args.slice(0, -1), (tx: Sql) => callback(preparingStatements(tx)));
          const control = new TransactionControl();
          const run = () =>
            begin(...args.slice(0, -1), (tx: Sql) =>
              control.run(() => callback(preparingStatements(tx, undefined, control.track))),
            );
          return guard(run, control);
        };
      }
      if (property === 'savepoint') {
        const savepoint = Reflect.get(target, property, receiver) as ((...a: unknown[]) => unknown) | undefined;
        if (!savepoint) return savepoint;
        return (...args: unknown[]) => {
          const callback = args[args.length - 1] as (tx: Sql) => unknown;
          return savepoint.call(target, ...args.slice(0, -1), (tx: Sql) =>
            callback(preparingStatements(tx, undefined, track)),
          );
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
