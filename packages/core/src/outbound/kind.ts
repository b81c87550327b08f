import type { DeliveryKind, DeliveryStatus } from '@switchboard/db';
import type { SQL } from 'drizzle-orm';
import type { DeliveryId } from '../shared/ids.ts';
import type { RequestPlan } from './attempt.ts';
import type { AttemptOutcome } from './outcome.ts';

/** One row as the claim returns it: the delivery's own columns and its kind's. */
export type ClaimedRow = Readonly<Record<string, unknown>>;

/** Column readers for claimed rows: postgres.js and PGlite give some types differently. */
export const readColumn = {
  date: (value: unknown): Date => (value instanceof Date ? value : new Date(String(value))),
  buffer: (value: unknown): Buffer =>
    Buffer.isBuffer(value)
      ? value
      : Buffer.from((value as Uint8Array).buffer, (value as Uint8Array).byteOffset, (value as Uint8Array).byteLength),
  json: <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T,
};

/** What a kind makes of a claimed row. */
export interface Prepared<Context> {
  /** The request an attempt makes. */
  request: RequestPlan;
  /** Why it is not to be sent, and the status it ends in; null: send it. */
  skip: { status: DeliveryStatus; reason: string } | null;
  /** Deliveries with the same key share a rate (requests per second); null: no limit. */
  rateLimit: { key: string; perSecond: number } | null;
  /** What the kind needs again when the outcome comes. */
  context: Context;
}

/** A row of the deliveries table as a claim leased it, whatever its kind. */
export interface ClaimedRecord {
  deliveryId: DeliveryId;
  kind: DeliveryKind;
  webhookId: string;
  /** Attempts made, this one included. */
  attempt: number;
  /** Attempts before the current series (a retry or recovery starts the policy afresh). */
  attemptOffset: number;
  firstAttemptAt: Date;
  /**
   * Whose share of the worker it takes (see worker-lanes.ts): an event's delivery its
   * subscription's, a job's request and callback their owner's.
   */
  lane: string;
  /** The lane's own cap on requests in flight; null: the worker's default. */
  maxInFlight: number | null;
  /** The attempt's timeout: the claim's lease lasts this plus the worker's margin. */
  timeoutMs: number;
  /** The row's columns as claimed, for those only its kind reads (event_id, job_id, body, ...). */
  columns: ClaimedRow;
}

/** A delivery claimed for this worker, whatever its kind, and what its kind made of it. */
export interface ClaimedDelivery<Context = unknown> extends Omit<ClaimedRecord, 'columns'>, Prepared<Context> {}

/**
 * A kind of delivery, plugged into the engine: it builds the requests of its claimed rows (loading
 * what they refer to, in one query per batch), and applies its own rules to an outcome before it is
 * recorded. The engine claims, leases, rate limits, signs, sends, schedules retries and records; it
 * knows nothing else about a kind.
 */
export interface OutboundKind<Context = unknown> {
  readonly kind: DeliveryKind;
  /**
   * What the kind reads for its rows in the claim's own statement, saving a round trip per batch:
   * a query joined laterally to each claimed row `c` (only its own kind's rows match), whose
   * columns arrive in `ClaimedRecord.columns`. Reads only; a kind without it loads in `plan`.
   */
  readonly claimJoin?: { as: string; query: SQL };
  /**
   * Each claimed row's request, skip rule, rate limit and context, in the order given; null for a
   * row whose subject is gone (deleted with its delivery since the claim).
   */
  plan(claimed: readonly ClaimedRecord[], now: Date): Promise<Array<Prepared<Context> | null>>;
  /** The kind's own rules, applied to an outcome before it is recorded. */
  onOutcome(delivery: ClaimedDelivery<Context>, outcome: AttemptOutcome, now: Date): AttemptOutcome;
}

/** The kinds this process sends, registered once when core is built. */
export class OutboundKinds {
  private readonly byKind = new Map<string, OutboundKind>();

  // biome-ignore lint/suspicious/noExplicitAny: each kind has a context type of its own
  constructor(kinds: ReadonlyArray<OutboundKind<any>>) {
    for (const kind of kinds) this.byKind.set(kind.kind, kind);
  }

  /** The kinds' claim joins (see OutboundKind.claimJoin). */
  claimJoins(): Array<{ as: string; query: SQL }> {
    return [...this.byKind.values()].flatMap((kind) => (kind.claimJoin ? [kind.claimJoin] : []));
  }

  get(kind: string): OutboundKind {
    const found = this.byKind.get(kind);
    if (!found) throw new Error(`No outbound kind "${kind}" is registered`);
    return found;
  }

  /**
   * What each kind makes of its claimed rows (each kind's rows in one call), in the order claimed.
   * A request never waits longer than its claim's lease allows, whatever its kind now says.
   */
  async prepare(claimed: readonly ClaimedRecord[], now: Date): Promise<ClaimedDelivery[]> {
    const byKind = new Map<string, ClaimedRecord[]>();
    for (const record of claimed) {
      const rows = byKind.get(record.kind);
      if (rows) rows.push(record);
      else byKind.set(record.kind, [record]);
    }
    const prepared = new Map<ClaimedRecord, Prepared<unknown>>();
    await Promise.all(
      [...byKind].map(async ([kind, records]) => {
        const plans = await this.get(kind).plan(records, now);
        records.forEach((record, i) => {
          const plan = plans[i];
          if (plan) prepared.set(record, plan);
        });
      }),
    );
    const out: ClaimedDelivery[] = [];
    for (const claim of claimed) {
      const plan = prepared.get(claim);
      if (!plan) continue;
      const { columns: _columns, ...record } = claim;
      const timeoutMs = Math.min(plan.request.timeoutMs, record.timeoutMs);
      out.push({ ...record, ...plan, request: { ...plan.request, timeoutMs } });
    }
    return out;
  }
}
