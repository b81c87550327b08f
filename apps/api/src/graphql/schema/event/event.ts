import { resolveCursorConnection } from '@pothos/plugin-relay';
import { type EventRecord, eventCursor } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { parseEventCursor, parseOptionalUuid, parseUuid } from '../common/ids.ts';
import { DeliveryConnection, DeliveryRef, DeliveryStatusEnum, resolveDeliveries } from '../delivery/delivery.ts';

export const EventStatusEnum = builder.enumType('EventStatus', {
  values: {
    PUBLISHED: { value: 'published' },
    CANCELLED: { value: 'cancelled', description: 'A blocking subscription cancelled it; it was not delivered.' },
  } as const,
});

export const EventRef = builder.objectRef<EventRecord>('Event').implement({
  description: 'One published occurrence of an event type.',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.exposeString('type'),
    payload: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What the publisher gave; deliveries send it as `data`.',
      resolve: (e) => e.payload,
    }),
    status: t.field({ type: EventStatusEnum, resolve: (e) => e.status }),
    cancelReason: t.exposeString('cancelReason', { nullable: true }),
    publisherId: t.exposeID('publisherId', {
      nullable: true,
      description: "The user who published it; null for Switchboard's own events.",
    }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveries: t.connection(
      {
        type: DeliveryRef,
        description: "Its deliveries to your subscriptions (admins: to everyone's), newest first.",
        args: { status: t.arg({ type: [DeliveryStatusEnum] }) },
        resolve: (e, args, ctx) => resolveDeliveries(ctx, args, { eventId: e.id, status: args.status ?? undefined }),
      },
      DeliveryConnection,
    ),
  }),
});

const EventConnection = builder.connectionObject({ type: EventRef, name: 'EventConnection' }, { name: 'EventEdge' });

builder.queryFields((t) => ({
  events: t.connection(
    {
      type: EventRef,
      description:
        'Events you published or that were sent to your subscriptions (admins: all), newest first. `since` is inclusive, `until` exclusive.',
      args: {
        type: t.arg.string(),
        status: t.arg({ type: EventStatusEnum }),
        since: t.arg({ type: 'DateTime' }),
        until: t.arg({ type: 'DateTime' }),
      },
      resolve: (_root, args, ctx) => {
        const principal = requirePrincipal(ctx);
        const filter = {
          type: args.type ?? undefined,
          status: args.status ?? undefined,
          since: args.since ?? undefined,
          until: args.until ?? undefined,
        };
        return resolveCursorConnection<Promise<EventRecord[]>>(
          { args, toCursor: eventCursor },
          async ({ before, after, limit, inverted }) =>
            unwrapQuery(
              await ctx.core.events.list(principal, filter, {
                after: parseEventCursor(after),
                before: parseEventCursor(before),
                limit,
                inverted,
              }),
            ),
        );
      },
    },
    EventConnection,
  ),
  event: t.field({
    type: EventRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.events.get(requirePrincipal(ctx), parseUuid(args.id, 'The event id'))),
  }),
}));

builder.mutationFields((t) => ({
  replayEvent: t.field({
    type: 'Int',
    description:
      'Delivers an event again, as new deliveries with new webhook ids: to one subscription of yours (needs subscriptions:write), or, for its publisher or an admin, to every subscription that matches it now. Answers how many deliveries were made.',
    args: { id: t.arg.id({ required: true }), subscriptionId: t.arg.id() },
    errors: { types: commonErrors, dataField: { name: 'deliveryCount' } },
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.events.replay(
          requirePrincipal(ctx),
          parseUuid(args.id, 'The event id'),
          parseOptionalUuid(args.subscriptionId, 'subscriptionId'),
        ),
      ).deliveryCount,
  }),
}));
