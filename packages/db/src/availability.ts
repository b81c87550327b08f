/**
 * Whether the database answers, judged the way a caller needs it: a stopped server refuses
 * connections at once, but a frozen one (SIGSTOP'd, or a host that stopped answering) keeps its
 * sockets open and never replies, and neither TCP keepalive nor `statement_timeout` notices
 * that. So every call from the pool runs under a deadline, and a call that stalls, or fails on
 * its connection, starts a liveness probe on a fresh connection. A probe that fails while no
 * call from the pool is answered marks the database unavailable: the calls waiting on it are
 * failed at once, new calls fail without waiting, and the probe repeats until it passes.
 */

/** What a caller gets while the database is unavailable or a call ran past its deadline. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
  readonly code = 'DATABASE_UNAVAILABLE';
}

/** postgres.js's own connection failures and the system's socket errors. */
const CONNECTION_CODES = new Set([
  'DATABASE_UNAVAILABLE',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that mean "the server cannot serve now" rather than "this statement is wrong":
 * connection exceptions (class 08), shutting down or starting up (57P01-57P03), too many
 * connections (53300), and a statement cancelled by `statement_timeout` (57014).
 */
function isUnavailableState(code: string): boolean {
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '57014'].includes(code);
}

/**
 * Whether an error (or one it wraps, as drizzle-orm's query errors wrap the driver's) says the
 * database could not be reached or did not answer in time, as opposed to refusing the statement.
 */
export function isDatabaseUnavailableError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if (current instanceof DatabaseUnavailableError) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || isUnavailableState(code))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface AvailabilityOptions {
  /** The longest a call may take once it is sent. */
  queryTimeoutMs: number;
  /** A call pending this long, or failing on its connection, starts a probe. */
  stallMs: number;
  /** How long a call cancelled at its deadline, or a COMMIT past it, may take to answer. */
  graceMs: number;
  /** Opens a fresh connection and runs a trivial query; rejects within its own timeout. */
  probe: () => Promise<void>;
  /** Pause between probes while the database is unavailable. */
  probeIntervalMs: number;
  onChange?: ((available: boolean, reason: string) => void) | undefined;
}

/** What the guard may learn of, and do to, the call it runs. */
export interface CallControl {
  /** False while the call waits for a pool connection: that wait does not count as running. */
  sent?: () => boolean;
  /** True once the call's outcome rests on a COMMIT already sent, which no client should cut short. */
  committing?: () => boolean;
  /** Asks the server to abort the call (or withdraws it while it waits for a connection). */
  cancel?: () => void;
}

interface Pending {
  startedAt: number;
  /** When the call was first seen sent; its deadline counts from then. */
  sentAt: number | undefined;
  /** When the call was first seen committing. */
  committingAt: number | undefined;
  /** Cancelled at its deadline: the call's own outcome is awaited until then. */
  giveUpAt: number | undefined;
  probed: boolean;
  control: CallControl;
  reject: (error: unknown) => void;
}

/** A probe refused this way reached a server that answers, only too busy to take one more. */
const BUSY_STATES = new Set(['53300']);

const TICK_MS = 100;

export class DatabaseAvailability {
  private down: string | null = null;
  private probing = false;
  private lastProbeAt = 0;
  /** When a call from the pool was last answered by the server, successfully or not. */
  private lastAnswerAt = Number.NEGATIVE_INFINITY;
  private closed = false;
  /** In start order, so that the oldest calls are looked at first. */
  private readonly pending = new Set<Pending>();
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly options: AvailabilityOptions) {
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  get available(): boolean {
    return this.down === null;
  }

  /** Runs one call under the deadline; fails at once while the database is unavailable. */
  guard<T>(start: () => PromiseLike<T>, control: CallControl = {}): Promise<T> {
    if (this.down !== null) return Promise.reject(this.unavailable());
    return new Promise<T>((resolve, reject) => {
      const now = Date.now();
      const entry: Pending = {
        startedAt: now,
        sentAt: control.sent ? undefined : now,
        committingAt: undefined,
        giveUpAt: undefined,
        probed: false,
        control,
        reject,
      };
      this.pending.add(entry);
      let call: PromiseLike<T>;
      try {
        call = start();
      } catch (error) {
        this.pending.delete(entry);
        reject(error);
        return;
      }
      // A call already failed by its deadline or by the outage may still settle later: ignored.
      Promise.resolve(call).then(
        (value) => {
          this.lastAnswerAt = Date.now();
          if (this.pending.delete(entry)) resolve(value);
        },
        (error: unknown) => {
          if (isDatabaseUnavailableError(error)) this.suspect();
          else this.lastAnswerAt = Date.now();
          if (this.pending.delete(entry)) reject(error);
        },
      );
    });
  }

  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
  }

  private unavailable(): DatabaseUnavailableError {
    return new DatabaseUnavailableError(`The database is unavailable: ${this.down ?? 'it did not answer'}`);
  }

  private tick(): void {
    const now = Date.now();
    for (const entry of this.pending) {
      if (now - entry.startedAt < this.options.stallMs) break;
      if (!entry.probed) {
        entry.probed = true;
        this.suspect();
      }
      this.enforceDeadline(entry, now);
    }
  }

  /**
   * A call past its deadline is not simply dropped: the server would go on and might commit what
   * its caller was told failed. Waiting for a connection, it is withdrawn (nothing was sent);
   * once sent, it is cancelled on the server and its own outcome awaited for a grace period; a
   * COMMIT already sent is left to the server's `statement_timeout`. Only a call that still does
   * not answer after that is failed here; a database that stopped answering is found by the probe.
   */
  private enforceDeadline(entry: Pending, now: number): void {
    const { control } = entry;
    const { queryTimeoutMs, graceMs } = this.options;
    if (entry.sentAt === undefined && control.sent?.()) entry.sentAt = now;
    if (entry.committingAt === undefined && control.committing?.()) entry.committingAt = now;
    let giveUp: boolean;
    if (entry.committingAt !== undefined) {
      giveUp = now - entry.committingAt >= queryTimeoutMs + graceMs;
    } else if (entry.giveUpAt !== undefined) {
      giveUp = now >= entry.giveUpAt;
    } else if (now - (entry.sentAt ?? entry.startedAt) < queryTimeoutMs) {
      giveUp = false;
    } else if (entry.sentAt !== undefined && control.cancel) {
      entry.giveUpAt = now + graceMs;
      control.cancel();
      giveUp = false;
    } else {
      control.cancel?.();
      giveUp = true;
    }
    if (!giveUp || !this.pending.delete(entry)) return;
    entry.reject(new DatabaseUnavailableError(`The database did not answer within ${queryTimeoutMs} ms`));
  }

  /** Something looked wrong: one probe decides, unless one is already under way. */
  private suspect(): void {
    if (this.probing || this.down !== null || this.closed) return;
    // Many slow statements on a busy but healthy server cost at most a few probes a second.
    if (Date.now() - this.lastProbeAt < this.options.probeIntervalMs) return;
    const startedAt = Date.now();
    this.lastProbeAt = startedAt;
    this.probing = true;
    this.options
      .probe()
      .then(
        () => {},
        (error: unknown) => {
          // A server too busy for one more connection, or one that answered the pool meanwhile, is
          // up: a probe that cannot get a backend in time says nothing about the pool's connections.
          if (isBusy(error) || this.lastAnswerAt >= startedAt) return;
          this.markDown(error instanceof Error ? error.message : String(error));
        },
      )
      .finally(() => {
        this.probing = false;
      });
  }

  private markDown(reason: string): void {
    if (this.down !== null || this.closed) return;
    this.down = reason.slice(0, 200);
    this.options.onChange?.(false, this.down);
    const error = this.unavailable();
    for (const entry of this.pending) entry.reject(error);
    this.pending.clear();
    void this.recover();
  }

  private async recover(): Promise<void> {
    while (this.down !== null && !this.closed) {
      await new Promise((resolve) => setTimeout(resolve, this.options.probeIntervalMs).unref());
      try {
        await this.options.probe();
      } catch (error) {
        if (!isBusy(error)) continue;
      }
      this.down = null;
      this.options.onChange?.(true, 'the database answers again');
    }
  }
}

/**
 * Too many connections (53300) means a server that answers. "Cannot connect now" (57P03) does
 * not: it is a server starting up, in recovery or shutting down, which serves no new session;
 * during a smart shutdown the pool's sessions still answer, and that is seen as answers.
 */
function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && BUSY_STATES.has(code);
}
