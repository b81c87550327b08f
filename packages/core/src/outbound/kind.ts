import type { DeliveryKind, DeliveryStatus } from '@switchboard/db';
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

/** A delivery claimed for this worker, whatever its kind. */
export interface ClaimedDelivery<Context = unknown> extends Prepared<Context> {
  deliveryId: number;
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
}

/**
 * A kind of delivery, plugged into the engine: it builds the request from the claimed row, and
 * applies its own rules to an outcome before it is recorded. The engine claims, leases, rate
 * limits, signs, sends, schedules retries and records; it knows nothing else about a kind.
 */
export interface OutboundKind<Context = unknown> {
  readonly kind: DeliveryKind;
  /** The claimed row's request, skip rule, rate limit and context. */
  plan(row: ClaimedRow): Prepared<Context>;
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

  get(kind: string): OutboundKind {
    const found = this.byKind.get(kind);
    if (!found) throw new Error(`No outbound kind "${kind}" is registered`);
    return found;
  }
}
