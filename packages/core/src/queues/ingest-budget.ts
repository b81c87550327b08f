/**
 * Bytes of inbound message bodies this process holds at once: from the moment they are received
 * until the message's write has settled. A burst of
 * large bodies is refused at the door instead of being buffered, base64-encoded and sent to the
 * database all at the same time, which is what exhausts memory and blocks the event loop.
 */
export const DEFAULT_INGEST_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;

export class IngestBudget {
  private used = 0;

  constructor(readonly limitBytes: number = DEFAULT_INGEST_MAX_INFLIGHT_BYTES) {}

  /** Bytes admitted and not yet released. */
  get inFlight(): number {
    return this.used;
  }

  /**
   * Holds `bytes`, or answers null when they do not fit. A body larger than the whole budget is
   * still admitted when nothing else is in flight, so that a budget smaller than the largest
   * allowed body never refuses that body for ever.
   */
  reserve(bytes: number): IngestReservation | null {
    if (!this.fits(bytes)) return null;
    this.used += bytes;
    return new IngestReservation(this, bytes);
  }

  /** Whether `bytes` more would fit now (always, when nothing is in flight). */
  fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limitBytes;
  }

  /** @internal */
  take(bytes: number): void {
    this.used += bytes;
  }

  /** @internal */
  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

export class IngestReservation {
  private released = false;

  constructor(
    private readonly budget: IngestBudget,
    private held: number,
  ) {}

  get bytes(): number {
    return this.held;
  }

  /** Holds `bytes` more of a body as they arrive, or answers false when they do not fit. */
  grow(bytes: number): boolean {
    if (this.released) return false;
    if (!this.budget.fits(bytes) && this.budget.inFlight > this.held) return false;
    this.budget.take(bytes);
    this.held += bytes;
    return true;
  }

  /** Safe to call more than once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
  }
}
