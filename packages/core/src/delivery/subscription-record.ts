import { randomBytes } from 'node:crypto';
import { subscriptions } from '@switchboard/db';
import type { RetryPolicy } from '../outbound/retry-policy.ts';
import type { Signing } from '../outbound/signing.ts';
import type { SubscriptionId, UserId } from '../shared/ids.ts';
import type { BodyFormat } from './body-format.ts';
import type { PayloadFilter } from './payload-filter.ts';

export interface Subscription {
  id: SubscriptionId;
  userId: UserId;
  name: string;
  description: string | null;
  url: string;
  eventTypes: string[];
  filter: PayloadFilter | null;
  headers: Record<string, string>;
  signing: Signing;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  rateLimitPerSecond: number | null;
  maxInFlight: number | null;
  mode: 'async' | 'blocking';
  bodyFormat: BodyFormat;
  enabled: boolean;
  disabledReason: string | null;
  disabledAt: Date | null;
  consecutiveFailures: number;
  failingSince: Date | null;
  disableAfterFailures: number | null;
  disableAfterMs: number | null;
  /** Failed attempts since it was made or last enabled (the Webhook test tool's `failure_count`). */
  failedAttempts: number;
  maxFailedAttempts: number | null;
  lastSuccessAt: Date | null;
  previousSecretExpiresAt: Date | null;
  managedBy: 'api' | 'config';
  createdAt: Date;
  updatedAt: Date;
}

/** Everything but the secrets, which are shown only when made (creation, rotation). */
export const subscriptionColumns = {
  id: subscriptions.id,
  userId: subscriptions.userId,
  name: subscriptions.name,
  description: subscriptions.description,
  url: subscriptions.url,
  eventTypes: subscriptions.eventTypes,
  filter: subscriptions.filter,
  headers: subscriptions.headers,
  signing: subscriptions.signing,
  timeoutMs: subscriptions.timeoutMs,
  retryPolicy: subscriptions.retryPolicy,
  rateLimitPerSecond: subscriptions.rateLimitPerSecond,
  maxInFlight: subscriptions.maxInFlight,
  mode: subscriptions.mode,
  bodyFormat: subscriptions.bodyFormat,
  enabled: subscriptions.enabled,
  disabledReason: subscriptions.disabledReason,
  disabledAt: subscriptions.disabledAt,
  consecutiveFailures: subscriptions.consecutiveFailures,
  failingSince: subscriptions.failingSince,
  disableAfterFailures: subscriptions.disableAfterFailures,
  disableAfterMs: subscriptions.disableAfterMs,
  failedAttempts: subscriptions.failedAttempts,
  maxFailedAttempts: subscriptions.maxFailedAttempts,
  lastSuccessAt: subscriptions.lastSuccessAt,
  previousSecretExpiresAt: subscriptions.previousSecretExpiresAt,
  managedBy: subscriptions.managedBy,
  createdAt: subscriptions.createdAt,
  updatedAt: subscriptions.updatedAt,
};

export const toSubscription = (row: Record<string, unknown>) => row as unknown as Subscription;

/** `whsec_` and 24 random bytes in base64, as Standard Webhooks and Svix libraries expect. */
export function generateSigningSecret(signing: Signing): string {
  const bytes = randomBytes(24).toString('base64');
  return signing.scheme === 'standard-webhooks' ? `whsec_${bytes}` : bytes;
}
