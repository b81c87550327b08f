declare const kindOfId: unique symbol;

/**
 * The id of one kind of row: a UUID string (or, for deliveries, a number) that the type checker
 * keeps apart from every other kind's, so that a subscription's id cannot be passed where a job's
 * is wanted. Ids come branded from the tables; an id read from outside (a URL, an argument) is
 * checked and branded once, where it enters (see `parseId` in @switchboard/core's shared/ids.ts).
 */
export type Id<Kind extends string, Base = string> = Base & { readonly [kindOfId]: Kind };

export type UserId = Id<'user'>;
export type QueueId = Id<'queue'>;
export type ClientId = Id<'client'>;
export type EventTypeId = Id<'event type'>;
export type EventId = Id<'event'>;
export type SubscriptionId = Id<'subscription'>;
export type JobId = Id<'job'>;
export type DeliveryId = Id<'delivery', number>;
