/**
 * Per-subscription rate limits, as reservations: a delivery that may not go yet is given the next
 * free slot (1/rate seconds after the one before) and keeps it, so that a backlog is spread out
 * once, rather than put back and claimed again and again. The limit holds per worker process.
 */
export class RateLimiter {
  private nextFree = new Map<string, number>();
  private reserved = new Map<number, number>();

  /** Milliseconds to wait before sending `ticket` (a delivery id); 0 to send now. */
  reserve(key: string, perSecond: number | null, nowMs: number, ticket: number): number {
    if (!perSecond) return 0;
    const held = this.reserved.get(ticket);
    if (held !== undefined && held <= nowMs) {
      this.reserved.delete(ticket);
      return 0;
    }
    if (held !== undefined) return Math.ceil(held - nowMs);
    const slot = Math.max(nowMs, this.nextFree.get(key) ?? 0);
    this.nextFree.set(key, slot + 1000 / perSecond);
    if (slot <= nowMs) return 0;
    this.reserved.set(ticket, slot);
    if (this.reserved.size > 100_000) this.forgetPast(nowMs);
    return Math.ceil(slot - nowMs);
  }

  private forgetPast(nowMs: number): void {
    for (const [ticket, at] of this.reserved) if (at < nowMs - 60_000) this.reserved.delete(ticket);
    for (const [key, at] of this.nextFree) if (at < nowMs) this.nextFree.delete(key);
  }
}
