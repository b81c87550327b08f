import type { Client, ReadOutcome } from '@switchboard/core';
import { abortable } from '../../abortable.ts';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { MessageRef, MessageStreamEvent, RefreshSignalRef } from '../queue/message.ts';
import { resolveMessageConnection } from '../queue/message-connection.ts';
import { parseSeqCursor } from '../queue/queue.ts';

const ClientStateEnum = builder.enumType('ClientState', {
  values: { CONNECTED: { value: 'connected' }, DISCONNECTED: { value: 'disconnected' } } as const,
});

export const ClientRef = builder.objectRef<Client>('Client').implement({
  description: "A user's named reader of one queue, with the sequence number it has read up to.",
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    queueName: t.exposeString('queueName'),
    state: t.field({ type: ClientStateEnum, resolve: (c) => c.state }),
    cursor: t.exposeInt('cursor'),
    needsRefresh: t.exposeBoolean('needsRefresh'),
    lastReadAt: t.expose('lastReadAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    backlog: t.connection({
      type: MessageRef,
      description: 'The unread messages (after the cursor), without moving the cursor.',
      resolve: (client, args, ctx) =>
        resolveMessageConnection(args, async (page) => {
          if (!client.queueId || client.state !== 'connected') return { messages: [], truncated: false };
          requirePrincipal(ctx);
          const after = Math.max(client.cursor, parseSeqCursor(page.after) ?? 0);
          return ctx.core.streams.pageOf(client.queueId, {
            after,
            before: parseSeqCursor(page.before),
            limit: page.limit,
            inverted: page.inverted,
          });
        }),
    }),
  }),
});

const ReadMessagesRef = builder.objectRef<Extract<ReadOutcome, { kind: 'messages' }>>('ReadMessages').implement({
  fields: (t) => ({
    currentSeq: t.exposeInt('currentSeq', { description: 'The newest message of the queue.' }),
    messages: t.field({ type: [MessageRef], resolve: (r) => r.messages }),
  }),
});

const ReadOutcomeUnion = builder.unionType('ReadOutcome', {
  types: [ReadMessagesRef, RefreshSignalRef],
  resolveType: (outcome) => ('messages' in outcome ? ReadMessagesRef : RefreshSignalRef),
});

builder.queryFields((t) => ({
  clients: t.field({
    type: [ClientRef],
    description: 'Your clients.',
    resolve: async (_root, _args, ctx) => unwrapQuery(await ctx.core.clients.list(requirePrincipal(ctx))),
  }),
  client: t.field({
    type: ClientRef,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => unwrapQuery(await ctx.core.clients.get(requirePrincipal(ctx), args.name)),
  }),
}));

builder.mutationFields((t) => ({
  listen: t.field({
    type: ClientRef,
    description: 'Starts (or reconnects) a client at the newest message of a queue you may listen to.',
    args: { client: t.arg.string({ required: true }), queue: t.arg.string({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'client' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.clients.listen(requirePrincipal(ctx), args.client, args.queue)),
  }),
  unlisten: t.field({
    type: ClientRef,
    args: { client: t.arg.string({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'client' } },
    resolve: async (_root, args, ctx) => unwrap(await ctx.core.clients.unlisten(requirePrincipal(ctx), args.client)),
  }),
  readClient: t.field({
    type: ReadOutcomeUnion,
    description: 'Everything after the cursor (at most `limit`, up to 1000), then the cursor moves past it.',
    args: { client: t.arg.string({ required: true }), limit: t.arg.int() },
    errors: { types: commonErrors, dataField: { name: 'outcome' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.clients.read(requirePrincipal(ctx), args.client, args.limit ?? undefined)),
  }),
}));

builder.subscriptionFields((t) => ({
  clientMessages: t.field({
    type: MessageStreamEvent,
    description:
      "New messages of your client's queue: from `after`, or else from the client's cursor, then live. The stored cursor is not moved; pass the last `seq` you saw as `after` when you reconnect.",
    args: { client: t.arg.string({ required: true }), after: t.arg.int() },
    subscribe: async (_root, args, ctx) => {
      const opened = unwrapQuery(
        await ctx.core.streams.openClientStream(requirePrincipal(ctx), args.client, args.after ?? undefined),
      );
      return abortable((signal) => ctx.core.streams.follow(opened.queueId, opened.start, signal));
    },
    resolve: (event) => (event.kind === 'message' ? event.message : event),
  }),
}));
