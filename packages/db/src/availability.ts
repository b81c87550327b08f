/**
 * Whether the database answers, judged the way a caller needs it: a stopped server refuses
 * connections at once, but a frozen one (SIGSTOP'd, or a host that stopped answering) keeps its
 * sockets open and never replies, and neither TCP keepalive nor `statement_timeout` notices
 * that. So every call from the pool runs under a deadline, and a call that stalls, or fails on
 * its connection, starts a liveness probe on a fresh connection. A failed probe marks the
 * database unavailable: the calls waiting on it are failed at once, new calls fail without
 * waiting, and the probe repeats until the database answers again.
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
  /** The longest any call may take. */
  queryTimeoutMs: number;
  /** A call pending this long, or failing on its connection, starts a probe. */
  stallMs: number;
  /** Opens a fresh connection and runs a trivial query; rejects within its own timeout. */
  probe: () => Promise<void>;
  /** Pause between probes while the database is unavailable. */
  probeIntervalMs: number;
  onChange?: ((available: boolean, reason: string) => void) | undefined;
}

interface Pending {
  startedAt: number;
  probed: boolean;
  reject: (error: unknown) => void;
}

const TICK_MS = 100;

export class DatabaseAvailability {
  private down: string | null = null;
  private probing = false;
  private lastProbeAt = 0;
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
  guard<T>(start: () => PromiseLike<T>): Promise<T> {
    if (this.down !== null) return Promise.reject(this.unavailable());
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { startedAt: Date.now(), probed: false, reject };
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
          if (this.pending.delete(entry)) resolve(value);
        },
        (error: unknown) => {
          if (isDatabaseUnavailableError(error)) this.suspect();
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
      const age = now - entry.startedAt;
      if (age < this.options.stallMs) break;
      if (!entry.probed) {
        entry.probed = true;
        this.suspect();
      }
      if (age >= this.options.queryTimeoutMs) {
        this.pending.delete(entry);
        entry.reject(
          new DatabaseUnavailableError(`The database did not answer within ${this.options.queryTimeoutMs} ms`),
        );
      }
    }
  }

  /** Something looked wrong: one probe decides, unless one is already under way. */
  private suspect(): void {
    if (this.probing || this.down !== null || this.closed) return;
    // Many slow statements on a busy but healthy server cost at most a few probes a second.
    if (Date.now() - this.lastProbeAt < this.options.probeIntervalMs) return;
    this.lastProbeAt = Date.now();
    this.probing = true;
    this.options
      .probe()
      .then(
        () => {},
        (error: unknown) => this.markDown(error instanceof Error ? error.message : String(error)),
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
      } catch {
        continue;
      }
      this.down = null;
      this.options.onChange?.(true, 'the database answers again');
    }
  }
}
