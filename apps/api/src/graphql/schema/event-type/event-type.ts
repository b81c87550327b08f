import type { EventType } from '@switchboard/core';
import { GraphQLError } from 'graphql';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';

export const EventTypeRef = builder.objectRef<EventType>('EventType').implement({
  description: 'A kind of event (`invoice.paid`), with an optional JSON Schema (draft 2020-12) for its payload.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    schema: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.schema }),
    archivedAt: t.expose('archivedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

/** A schema must be a JSON object; anything else is refused before it reaches core. */
function asSchema(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new GraphQLError('schema must be a JSON object', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return value as Record<string, unknown>;
}

builder.queryFields((t) => ({
  eventTypes: t.field({
    type: [EventTypeRef],
    args: { includeArchived: t.arg.boolean() },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(
        await ctx.core.eventTypes.list(requirePrincipal(ctx), { includeArchived: args.includeArchived ?? false }),
      ),
  }),
  eventType: t.field({
    type: EventTypeRef,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => unwrapQuery(await ctx.core.eventTypes.get(requirePrincipal(ctx), args.name)),
  }),
}));

const EventTypeInput = builder.inputType('EventTypeInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    schema: t.field({ type: 'JSON' }),
  }),
});

const result = { types: commonErrors, dataField: { name: 'eventType' } } as const;

builder.mutationFields((t) => ({
  createEventType: t.field({
    type: EventTypeRef,
    description: 'Admins only.',
    args: { input: t.arg({ type: EventTypeInput, required: true }) },
    errors: result,
    resolve: async (_root, { input }, ctx) =>
      unwrap(
        await ctx.core.eventTypes.create(requirePrincipal(ctx), {
          name: input.name,
          description: input.description ?? null,
          schema: asSchema(input.schema),
        }),
      ),
  }),
  updateEventType: t.field({
    type: EventTypeRef,
    description: 'Admins only. Changes the description and schema; the name stays.',
    args: { input: t.arg({ type: EventTypeInput, required: true }) },
    errors: result,
    resolve: async (_root, { input }, ctx) =>
      unwrap(
        await ctx.core.eventTypes.update(requirePrincipal(ctx), input.name, {
          description: input.description ?? null,
          schema: asSchema(input.schema),
        }),
      ),
  }),
  archiveEventType: t.field({
    type: EventTypeRef,
    description: 'Admins only. Archived types refuse new events; `archived: false` restores one.',
    args: { name: t.arg.string({ required: true }), archived: t.arg.boolean({ defaultValue: true }) },
    errors: result,
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.eventTypes.setArchived(requirePrincipal(ctx), args.name, args.archived ?? true)),
  }),
}));
