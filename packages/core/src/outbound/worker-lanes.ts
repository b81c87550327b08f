/**
 * A worker's share-keeping: each delivery belongs to a lane (its subscription, or a job owner's
 * jobs; see ClaimedDelivery.lane), and a lane may have at most its cap of requests in flight and
 * its cap plus `ahead` held (claimed or adopted, not yet finished). Without it one endpoint that
 * never answers would take every slot of the worker until its timeout.
 */
interface Lane {
  /** Claimed or adopted and not yet finished: queued or in flight. */
  held: number;
  sending: number;
  cap: number;
}

export class WorkerLanes {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    /** The cap of a lane whose subscription sets none, and of every job owner's lane. */
    readonly defaultCap: number,
    /**
     * Held beyond the cap: enough that a busy lane's claims come in batches and its requests never
     * wait on a claim, while a lane that is stuck leaves most of the worker's prefetch to others.
     */
    readonly ahead: number,
  ) {}

  /** A delivery claimed or adopted into `id`'s lane. */
  hold(id: string, maxInFlight: number | null): void {
    const lane = this.lanes.get(id);
    if (lane) lane.held++;
    else this.lanes.set(id, { held: 1, sending: 0, cap: maxInFlight ?? this.defaultCap });
  }

  /** Takes one of the lane's slots if it has a free one. */
  startSending(id: string): boolean {
    const lane = this.lanes.get(id);
    if (!lane || lane.sending >= lane.cap) return false;
    lane.sending++;
    return true;
  }

  /** A held delivery is done with: answered (`sent`) or handed back untried. */
  leave(id: string, sent: boolean): void {
    const lane = this.lanes.get(id);
    if (!lane) return;
    if (sent) lane.sending--;
    if (--lane.held <= 0) this.lanes.delete(id);
  }

  /** How many more of this lane may be held now. */
  roomFor(id: string, maxInFlight: number | null): number {
    const lane = this.lanes.get(id);
    return Math.max(0, (lane?.cap ?? maxInFlight ?? this.defaultCap) + this.ahead - (lane?.held ?? 0));
  }

  /** Room left in each lane held now (told to the claim, which skips the full ones). */
  room(): Record<string, number> {
    const room: Record<string, number> = {};
    for (const [id, lane] of this.lanes) room[id] = lane.cap + this.ahead - lane.held;
    return room;
  }

  isFull(id: string): boolean {
    const lane = this.lanes.get(id);
    return lane !== undefined && lane.cap + this.ahead - lane.held <= 0;
  }

  full(): string[] {
    return [...this.lanes.keys()].filter((id) => this.isFull(id));
  }
}
