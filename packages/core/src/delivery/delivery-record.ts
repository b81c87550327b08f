import { type DeliveryStatus, deliveries, deliveryAttempts, events } from '@switchboard/db';
import type { DeliveryId, EventId, SubscriptionId } from '../shared/ids.ts';

export interface Delivery {
  id: DeliveryId;
  webhookId: string;
  eventId: EventId | null;
  eventType: string | null;
  subscriptionId: SubscriptionId | null;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  firstAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  completedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryAttempt {
  id: number;
  deliveryId: DeliveryId;
  number: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: Buffer | null;
  responseTruncated: boolean;
  error: string | null;
  succeeded: boolean;
}

export const deliveryColumns = {
  id: deliveries.id,
  webhookId: deliveries.webhookId,
  eventId: deliveries.eventId,
  eventType: events.type,
  subscriptionId: deliveries.subscriptionId,
  status: deliveries.status,
  attempts: deliveries.attempts,
  nextAttemptAt: deliveries.nextAttemptAt,
  firstAttemptAt: deliveries.firstAttemptAt,
  lastAttemptAt: deliveries.lastAttemptAt,
  lastStatusCode: deliveries.lastStatusCode,
  lastError: deliveries.lastError,
  completedAt: deliveries.completedAt,
  createdAt: deliveries.createdAt,
  updatedAt: deliveries.updatedAt,
};

export const attemptColumns = {
  id: deliveryAttempts.id,
  deliveryId: deliveryAttempts.deliveryId,
  number: deliveryAttempts.number,
  startedAt: deliveryAttempts.startedAt,
  durationMs: deliveryAttempts.durationMs,
  statusCode: deliveryAttempts.statusCode,
  responseHeaders: deliveryAttempts.responseHeaders,
  responseBody: deliveryAttempts.responseBody,
  responseTruncated: deliveryAttempts.responseTruncated,
  error: deliveryAttempts.error,
  succeeded: deliveryAttempts.succeeded,
};

export interface DeliveryStats {
  pending: number;
  delivering: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}
