import type { BlockingResult, PublishOutcome } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { EventRef } from './event.ts';

const CancellationRef = builder.objectRef<NonNullable<PublishOutcome['cancellation']>>('EventCancellation').implement({
  description: 'A blocking subscription answered that the event must not happen.',
  fields: (t) => ({
    reason: t.exposeString('reason'),
    subscriptionId: t.exposeID('subscriptionId'),
  }),
});

const BlockingResultRef = builder.objectRef<BlockingResult>('BlockingDeliveryResult').implement({
  description: 'The first attempt to a blocking subscription, made before the event was stored.',
  fields: (t) => ({
    subscriptionId: t.exposeID('subscriptionId'),
    succeeded: t.exposeBoolean('succeeded'),
    statusCode: t.exposeInt('statusCode', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

const PublishEventSuccess = builder.objectRef<PublishOutcome>('PublishEventSuccess').implement({
  fields: (t) => ({
    event: t.field({ type: EventRef, resolve: (o) => o.event }),
    duplicate: t.exposeBoolean('duplicate', {
      description: 'An earlier event with the same idempotency key (or content) was returned; nothing new was sent.',
    }),
    deliveryCount: t.exposeInt('deliveryCount', { description: 'Deliveries made for this event (0 for a duplicate).' }),
    cancellation: t.field({ type: CancellationRef, nullable: true, resolve: (o) => o.cancellation }),
    blocking: t.field({ type: [BlockingResultRef], resolve: (o) => o.blocking }),
  }),
});

const PublishEventInput = builder.inputType('PublishEventInput', {
  fields: (t) => ({
    type: t.string({ required: true, description: 'A known event type; its JSON Schema, if any, checks the payload.' }),
    payload: t.field({ type: 'JSON', required: true }),
    idempotencyKey: t.string({
      description: 'Publishing again with the same key returns the first event instead of a second one.',
    }),
    dedupeByContent: t.boolean({ description: 'Use the type and payload as the idempotency key.' }),
    wait: t.boolean({
      description:
        'Deliver to blocking subscriptions first and wait for their answers: any of them may cancel the event.',
    }),
  }),
});

builder.mutationFields((t) => ({
  publishEvent: t.field({
    type: PublishEventSuccess,
    description: 'Needs events:publish. The event is stored with a delivery for every subscription that matches it.',
    args: { input: t.arg({ type: PublishEventInput, required: true }) },
    errors: { types: commonErrors, directResult: true },
    resolve: async (_root, { input }, ctx) =>
      unwrap(
        await ctx.core.publisher.publish(requirePrincipal(ctx), {
          type: input.type,
          payload: input.payload,
          idempotencyKey: input.idempotencyKey ?? null,
          dedupeByContent: input.dedupeByContent ?? false,
          wait: input.wait ?? false,
        }),
      ),
  }),
}));
