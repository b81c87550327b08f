import { type DefaultConnectionArguments, resolveCursorConnection } from '@pothos/plugin-relay';
import type { Delivery, DeliveryFilter, DeliveryId } from '@switchboard/core';
import { abortable } from '../../abortable.ts';
import { builder } from '../../builder.ts';
import { type GraphQLContext, requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { parseDeliveryCursor, parseDeliveryId, parseOptionalUuid } from '../common/ids.ts';
import { DeliveryAttemptRef } from './delivery-attempt.ts';

export const DeliveryStatusEnum = builder.enumType('DeliveryStatus', {
  values: {
    PENDING: { value: 'pending', description: 'Waiting for its next attempt.' },
    DELIVERING: { value: 'delivering', description: 'An attempt is under way.' },
    SUCCEEDED: { value: 'succeeded' },
    FAILED: { value: 'failed', description: 'No attempts left, or its subscription was disabled.' },
    CANCELLED: { value: 'cancelled' },
  } as const,
});

export const DeliveryRef = builder.objectRef<Delivery>('Delivery').implement({
  description: 'One event owed to one subscription, with its attempts.',
  fields: (t) => ({
    id: t.exposeID('id'),
    webhookId: t.exposeString('webhookId', {
      description: 'Sent as `webhook-id` on every attempt, so that the receiver can recognise repeats.',
    }),
    eventId: t.exposeID('eventId', { nullable: true }),
    eventType: t.exposeString('eventType', { nullable: true }),
    subscriptionId: t.exposeID('subscriptionId', { nullable: true }),
    status: t.field({ type: DeliveryStatusEnum, resolve: (d) => d.status }),
    attemptCount: t.exposeInt('attempts', { description: 'Attempts started so far.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    firstAttemptAt: t.expose('firstAttemptAt', { type: 'DateTime', nullable: true }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    attempts: t.loadableList({
      type: DeliveryAttemptRef,
      description: 'Oldest first.',
      // A graphql-ws subscription keeps one context for all its events: a cache would show the
      // attempts of the first update of a delivery on every later one.
      loaderOptions: { cache: false },
      load: async (ids: DeliveryId[], ctx: GraphQLContext) => {
        const attempts = await ctx.core.deliveries.attemptsOf(ids);
        return ids.map((id) => attempts.get(id) ?? []);
      },
      resolve: (d) => d.id,
    }),
  }),
});

export const DeliveryConnection = builder.connectionObject(
  { type: DeliveryRef, name: 'DeliveryConnection' },
  { name: 'DeliveryEdge' },
);

/** Pages of deliveries, newest first; cursors are delivery ids. */
export function resolveDeliveries(ctx: GraphQLContext, args: DefaultConnectionArguments, filter: DeliveryFilter) {
  const principal = requirePrincipal(ctx);
  return resolveCursorConnection<Promise<Delivery[]>>(
    { args, toCursor: (d: Delivery) => String(d.id) },
    async ({ before, after, limit, inverted }) =>
      unwrapQuery(
        await ctx.core.deliveries.list(principal, filter, {
          after: parseDeliveryCursor(after),
          before: parseDeliveryCursor(before),
          limit,
          inverted,
        }),
      ),
  );
}

builder.queryFields((t) => ({
  deliveries: t.connection(
    {
      type: DeliveryRef,
      description:
        "Deliveries of your subscriptions (admins: everyone's), newest first. `since` is inclusive, `until` exclusive.",
      args: {
        subscriptionId: t.arg.id(),
        eventId: t.arg.id(),
        status: t.arg({ type: [DeliveryStatusEnum] }),
        since: t.arg({ type: 'DateTime' }),
        until: t.arg({ type: 'DateTime' }),
      },
      resolve: (_root, args, ctx) =>
        resolveDeliveries(ctx, args, {
          subscriptionId: parseOptionalUuid(args.subscriptionId, 'subscriptionId'),
          eventId: parseOptionalUuid(args.eventId, 'eventId'),
          status: args.status ?? undefined,
          since: args.since ?? undefined,
          until: args.until ?? undefined,
        }),
    },
    DeliveryConnection,
  ),
  delivery: t.field({
    type: DeliveryRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.deliveries.get(requirePrincipal(ctx), parseDeliveryId(args.id))),
  }),
}));

builder.mutationFields((t) => ({
  retryDelivery: t.field({
    type: DeliveryRef,
    description:
      'Sends a delivery again now, whatever became of it; if that fails, its retry policy starts afresh. Not while an attempt is under way, and not to a disabled subscription.',
    args: { id: t.arg.id({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'delivery' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.deliveries.retry(requirePrincipal(ctx), parseDeliveryId(args.id))),
  }),
}));

builder.subscriptionFields((t) => ({
  deliveryUpdates: t.field({
    type: DeliveryRef,
    description:
      "Every change of a delivery of your subscriptions (admins: anyone's) from now on: each attempt, success, retry or failure. Narrow it to one subscription or one event.",
    args: { subscriptionId: t.arg.id(), eventId: t.arg.id() },
    subscribe: async (_root, args, ctx) => {
      const principal = requirePrincipal(ctx);
      const filter = unwrapQuery(
        await ctx.core.deliveryUpdates.open(principal, {
          subscriptionId: parseOptionalUuid(args.subscriptionId, 'subscriptionId'),
          eventId: parseOptionalUuid(args.eventId, 'eventId'),
        }),
      );
      return abortable((signal) => ctx.core.deliveryUpdates.follow(principal, filter, signal));
    },
    resolve: (delivery) => delivery,
  }),
}));
