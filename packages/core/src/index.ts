/*
 * What apps may use: services' types, records, rules they share with core (scopes, patterns,
 * phases, errors), and the kinds and store functions tests drive a worker with. Stores are not
 * exported: apps reach tables only through services.
 */
export {
  isAdmin,
  type Principal,
  SCOPES,
  type Scope,
  scopesForRole,
  systemPrincipal,
  type UserRole,
} from './access/principal.ts';
export type { ClientInfo } from './auth/auth-service.ts';
export { webhookTestSubscription } from './compat/webhook-test-accounts.ts';
export { type Core, type CoreDeps, createCore, outboundKinds } from './core.ts';
export type { DeliveryFilter } from './delivery/deliveries-service.ts';
export type { Delivery, DeliveryAttempt, DeliveryStats } from './delivery/delivery-record.ts';
export { isValidPattern, matchesPattern } from './delivery/patterns.ts';
export type { SubscriptionChanges, SubscriptionDefinition } from './delivery/subscription-definition.ts';
export type { Subscription } from './delivery/subscription-record.ts';
export { isSerializable } from './events/event-content.ts';
export type { BlockingResult, PublishOutcome } from './events/event-publisher.ts';
export type { EventRecord } from './events/event-record.ts';
export type { EventType } from './events/event-types-service.ts';
export { eventCursor } from './events/events-service.ts';
export { describeHookMode, type HookPhase, hookNamesFor, modeOfPhase, splitHookPhase } from './events/hook-phase.ts';
export { validateAgainst } from './events/json-schema.ts';
export { encodeBody } from './jobs/job-callback.ts';
export { JOB_METHODS, type JobDefinition } from './jobs/job-definition.ts';
export { type Job, jobCursor } from './jobs/job-record.ts';
export { claimDeliveries } from './outbound/outbound-store.ts';
export type { AttemptOutcome } from './outbound/outcome.ts';
export { DEFAULT_SCHEDULE_MS, type RetryPolicy } from './outbound/retry-policy.ts';
export type { Signing } from './outbound/signing.ts';
export type { MessageRun } from './queues/action-runs-service.ts';
export type { ActionRunRow } from './queues/actions/action-run-store.ts';
export type { ActionMetrics, MetricType, TrackedMetric } from './queues/actions/action-types.ts';
export {
  type Client,
  MAX_READ_BYTES,
  type ReadOutcome,
  type StoredMessage,
  toMessageListEntry,
} from './queues/clients-service.ts';
export { IngestReservation } from './queues/ingest-budget.ts';
export type { IngestOutcome } from './queues/ingest-service.ts';
export type { Reply } from './queues/inline-actions.ts';
export type { MessagePage } from './queues/message-stream.ts';
export { type IncomingMessage, MessageWriter } from './queues/message-writer.ts';
export { type QueueDefinition, RESERVED_PATHS } from './queues/queue-definition.ts';
export type { CompiledQueue } from './queues/queue-registry.ts';
export type { Queue } from './queues/queues-service.ts';
export type { RejectedMessage } from './queues/rejected-store.ts';
export type { Verification } from './queues/verification/types.ts';
export { generateRandomString, isUuid } from './shared/crypto.ts';
export { decodeKeysetCursor } from './shared/cursor.ts';
export { describeError, describeErrorForPeople } from './shared/db-errors.ts';
export { isDatabaseUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from './shared/db-unavailable.ts';
export type {
  ClientId,
  DeliveryId,
  EventId,
  EventTypeId,
  JobId,
  QueueId,
  SubscriptionId,
  UserId,
} from './shared/ids.ts';
export { EARLIEST_INSTANT, parseInstant } from './shared/instant.ts';
export { silentLogger } from './shared/logger.ts';
export { CHANNELS } from './shared/pubsub.ts';
export type { CoreError, ErrorCode, Result } from './shared/result.ts';
export { findNul, identifierProblem, type TextProblem } from './shared/text-input.ts';
export type { ApiToken } from './tokens/tokens-service.ts';
export { parseToken } from './tokens/tokens-service.ts';
export type { User } from './users/users-service.ts';
