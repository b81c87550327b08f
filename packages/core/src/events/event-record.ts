import { events } from '@switchboard/db';
import type { EventId, UserId } from '../shared/ids.ts';

export interface EventRecord {
  id: EventId;
  type: string;
  /** The `data` the publisher gave. */
  payload: unknown;
  status: 'published' | 'cancelled';
  cancelReason: string | null;
  publisherId: UserId | null;
  idempotencyKey: string | null;
  /** Set when only this user's (and admins') subscriptions receive the event. */
  audienceUserId: UserId | null;
  createdAt: Date;
}

export const eventColumns = {
  id: events.id,
  type: events.type,
  body: events.body,
  status: events.status,
  cancelReason: events.cancelReason,
  publisherId: events.publisherId,
  idempotencyKey: events.idempotencyKey,
  audienceUserId: events.audienceUserId,
  createdAt: events.createdAt,
};

/**
 * The stored body is the envelope every delivery sends; the payload is its `data`, read from the
 * body unless the caller has it already (a publish that just built the body).
 */
export function toEventRecord(
  row: {
    id: EventId;
    type: string;
    body: Buffer;
    status: 'published' | 'cancelled';
    cancelReason: string | null;
    publisherId: UserId | null;
    idempotencyKey: string | null;
    audienceUserId: UserId | null;
    createdAt: Date;
  },
  payload: unknown = (JSON.parse(row.body.toString('utf8')) as { data: unknown }).data,
): EventRecord {
  const { body: _body, ...rest } = row;
  return { ...rest, payload };
}

/** What every delivery of an event sends, byte for byte: the Standard Webhooks payload shape. */
export function buildEnvelope(type: string, timestamp: Date, payload: unknown) {
  return { type, timestamp: timestamp.toISOString(), data: payload };
}
