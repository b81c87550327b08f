import { isAdmin, type Queue, type QueueDefinition, type Verification } from '@switchboard/core';
import { GraphQLError } from 'graphql';
import { abortable } from '../../abortable.ts';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { UserRef } from '../user/user.ts';
import { MessageRef, MessageStreamEvent } from './message.ts';
import { resolveMessageConnection } from './message-connection.ts';

const VERIFICATION_METHODS = [
  'none',
  'token',
  'basic',
  'hmac',
  'webhook-queue',
  'github',
  'stripe',
  'shopify',
  'slack',
  'standard-webhooks',
] as const;

const VerificationMethodEnum = builder.enumType('VerificationMethod', {
  values: Object.fromEntries(
    VERIFICATION_METHODS.map((m) => [m.toUpperCase().replace('-', '_'), { value: m }]),
  ) as Record<string, { value: (typeof VERIFICATION_METHODS)[number] }>,
});

/** Everything about a queue's verification except its secrets, which are never shown again. */
const QueueVerificationRef = builder.objectRef<Verification>('QueueVerification').implement({
  fields: (t) => {
    const field = (key: string) =>
      t.string({ nullable: true, resolve: (v) => ((v as Record<string, unknown>)[key] as string | undefined) ?? null });
    return {
      method: t.field({ type: VerificationMethodEnum, resolve: (v) => v.method }),
      header: field('header'),
      query: field('query'),
      algorithm: field('algorithm'),
      encoding: field('encoding'),
      prefix: field('prefix'),
      process: field('process'),
      username: field('username'),
      toleranceSeconds: t.int({
        nullable: true,
        resolve: (v) => ('toleranceSeconds' in v ? (v.toleranceSeconds ?? null) : null),
      }),
    };
  },
});

const DedupRef = builder.objectRef<{ header?: string; bodyHash?: true }>('QueueDedup').implement({
  description: 'How repeated deliveries are recognised: by a header, or by a hash of the body.',
  fields: (t) => ({
    header: t.string({ nullable: true, resolve: (d) => d.header ?? null }),
    bodyHash: t.boolean({ resolve: (d) => d.bodyHash === true }),
  }),
});

const QueueRespondEnum = builder.enumType('QueueRespond', {
  description: 'When a queue answers its sender: once the message is stored, or after its actions have run.',
  values: { AT_ONCE: { value: 'at-once' as const }, AFTER_ACTIONS: { value: 'after-actions' as const } },
});

const QueueRejectedEnum = builder.enumType('QueueRejected', {
  description: 'What becomes of a request the rules refuse: nothing is kept, or it is kept among the rejections.',
  values: { REFUSE: { value: 'refuse' as const }, STORE: { value: 'store' as const } },
});

export const QueueRef = builder.objectRef<Queue>('Queue').implement({
  description: 'A named inbound channel: providers POST to /q/<name>.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    ingestPath: t.string({ resolve: (q) => `/q/${q.name}` }),
    verification: t.field({ type: QueueVerificationRef, resolve: (q) => q.verification }),
    allowedNetworks: t.exposeStringList('allowedNetworks'),
    maxMessageCount: t.exposeInt('maxMessageCount', { nullable: true }),
    maxMessageSize: t.exposeInt('maxMessageSize', { nullable: true }),
    maxQueueBytes: t.exposeInt('maxQueueBytes', { nullable: true }),
    retentionSeconds: t.exposeInt('retentionSeconds', { nullable: true }),
    dedup: t.field({ type: DedupRef, nullable: true, resolve: (q) => q.dedup }),
    path: t.exposeString('path', {
      nullable: true,
      description: 'A path of its own that ingests into it, beside /q/<name>.',
    }),
    dialect: t.exposeString('dialect', {
      description: "`webhook-proxy` queues answer as webhook-proxy's endpoints did.",
    }),
    respond: t.field({ type: QueueRespondEnum, resolve: (q) => q.respond }),
    rejected: t.field({ type: QueueRejectedEnum, resolve: (q) => q.rejected }),
    rules: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What a request must satisfy (docs/actions.md). Admins only; null for others.',
      resolve: (q, _args, ctx) => (isAdmin(requirePrincipal(ctx)) ? q.rules : null),
    }),
    actions: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What runs for each accepted message, in order (docs/actions.md). Admins only; null for others.',
      resolve: (q, _args, ctx) => (isAdmin(requirePrincipal(ctx)) ? q.actions : null),
    }),
    response: t.field({
      type: 'JSON',
      nullable: true,
      description: 'The answer of a queue that responds after its actions. Admins only; null for others.',
      resolve: (q, _args, ctx) => (isAdmin(requirePrincipal(ctx)) ? q.response : null),
    }),
    managedBy: t.exposeString('managedBy', {
      description: '`config` queues are replaced when the config file is applied.',
    }),
    lastSeq: t.exposeInt('lastSeq'),
    messageCount: t.exposeInt('messageCount'),
    totalBytes: t.exposeInt('totalBytes'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    listeners: t.field({
      type: [UserRef],
      description: 'Users allowed to listen (admins only; others see an empty list).',
      resolve: async (q, _args, ctx) => {
        const ids = await ctx.core.queues.listListeners(requirePrincipal(ctx), q.id);
        return ids.ok ? ids.value : [];
      },
    }),
    messages: t.connection({
      type: MessageRef,
      description: 'The stored messages, oldest first; cursors are sequence numbers.',
      resolve: (q, args, ctx) =>
        resolveMessageConnection(args, async ({ before, after, limit, inverted }) =>
          unwrapQuery(
            await ctx.core.streams.page(requirePrincipal(ctx), q.name, {
              after: parseSeqCursor(after),
              before: parseSeqCursor(before),
              limit,
              inverted,
            }),
          ),
        ),
    }),
  }),
});

/** Message cursors are sequence numbers; anything else is refused as a client error. */
export function parseSeqCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const seq = Number(cursor);
  if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(seq)) {
    throw new GraphQLError('A message cursor is a sequence number', { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return seq;
}

builder.queryFields((t) => ({
  queues: t.field({
    type: [QueueRef],
    description: 'Every queue for admins; for others, the queues they may listen to.',
    resolve: async (_root, _args, ctx) => unwrapQuery(await ctx.core.queues.list(requirePrincipal(ctx))),
  }),
  queue: t.field({
    type: QueueRef,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => unwrapQuery(await ctx.core.queues.getByName(requirePrincipal(ctx), args.name)),
  }),
}));

const VerificationInput = builder.inputType('VerificationInput', {
  description: 'The fields a method uses; see docs/queues.md. Secrets are write-only.',
  fields: (t) => ({
    method: t.field({ type: VerificationMethodEnum, required: true }),
    secret: t.string(),
    token: t.string(),
    key: t.string(),
    username: t.string(),
    password: t.string(),
    header: t.string(),
    query: t.string(),
    algorithm: t.string(),
    encoding: t.string(),
    prefix: t.string(),
    process: t.string(),
    toleranceSeconds: t.int(),
  }),
});

const DedupInput = builder.inputType('DedupInput', {
  fields: (t) => ({ header: t.string(), bodyHash: t.boolean() }),
});

const QueueInput = builder.inputType('QueueInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    verification: t.field({ type: VerificationInput, description: 'Left out on update: the current one stays.' }),
    allowedNetworks: t.stringList(),
    maxMessageCount: t.int(),
    maxMessageSize: t.int(),
    maxQueueBytes: t.int(),
    retentionSeconds: t.int(),
    dedup: t.field({ type: DedupInput }),
    path: t.string({ description: 'A path of its own (`/github`). Left out on update: the current one stays.' }),
    rules: t.field({ type: 'JSON', description: 'See docs/actions.md. Left out on update: the current ones stay.' }),
    actions: t.field({ type: 'JSON', description: 'See docs/actions.md. Left out on update: the current ones stay.' }),
    respond: t.field({ type: QueueRespondEnum }),
    response: t.field({
      type: 'JSON',
      description: '{status, headers, body} templates, or {preset: slack | challenge}.',
    }),
    rejected: t.field({ type: QueueRejectedEnum }),
  }),
});

function toDefinition(input: typeof QueueInput.$inferInput): QueueDefinition {
  const stripNulls = (o: object) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));
  return {
    name: input.name,
    description: input.description ?? null,
    verification: input.verification ? (stripNulls(input.verification) as Verification) : undefined,
    allowedNetworks: input.allowedNetworks ?? [],
    maxMessageCount: input.maxMessageCount ?? null,
    maxMessageSize: input.maxMessageSize ?? null,
    maxQueueBytes: input.maxQueueBytes ?? null,
    retentionSeconds: input.retentionSeconds ?? null,
    dedup: input.dedup ? (stripNulls(input.dedup) as QueueDefinition['dedup']) : null,
    // Undefined keeps the current value on update (QueuesService.update); null clears it.
    path: input.path,
    rules: input.rules as QueueDefinition['rules'],
    actions: input.actions === null ? [] : (input.actions as QueueDefinition['actions']),
    respond: input.respond ?? undefined,
    response: input.response as QueueDefinition['response'],
    rejected: input.rejected ?? undefined,
  };
}

const queueResult = { types: commonErrors, dataField: { name: 'queue' } } as const;

builder.mutationFields((t) => ({
  createQueue: t.field({
    type: QueueRef,
    description: 'Admins only.',
    args: { input: t.arg({ type: QueueInput, required: true }) },
    errors: queueResult,
    resolve: async (_root, { input }, ctx) =>
      unwrap(await ctx.core.queues.create(requirePrincipal(ctx), toDefinition(input))),
  }),
  updateQueue: t.field({
    type: QueueRef,
    description: 'Admins only. Replaces the definition; messages and clients stay.',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: QueueInput, required: true }) },
    errors: queueResult,
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.queues.update(requirePrincipal(ctx), String(args.id), toDefinition(args.input))),
  }),
  deleteQueue: t.field({
    type: QueueRef,
    description: 'Admins only. Deletes the queue and its messages; its clients become disconnected.',
    args: { id: t.arg.id({ required: true }) },
    errors: queueResult,
    resolve: async (_root, args, ctx) => unwrap(await ctx.core.queues.delete(requirePrincipal(ctx), String(args.id))),
  }),
  setQueueListeners: t.field({
    type: [UserRef],
    description: 'Admins only. Who may listen; clients of users left out become disconnected.',
    args: { id: t.arg.id({ required: true }), userIds: t.arg.idList({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'listeners' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.queues.setListeners(requirePrincipal(ctx), String(args.id), args.userIds.map(String))),
  }),
}));

builder.subscriptionFields((t) => ({
  queueMessages: t.field({
    type: MessageStreamEvent,
    description:
      'New messages of a queue as they are stored. With `after`, first every message after that sequence number, then live ones: no gap, no duplicate. A RefreshSignal says messages were dropped unseen.',
    args: { queue: t.arg.string({ required: true }), after: t.arg.int() },
    subscribe: async (_root, args, ctx) => {
      const opened = unwrapQuery(
        await ctx.core.streams.openQueueStream(requirePrincipal(ctx), args.queue, args.after ?? undefined),
      );
      return abortable((signal) => ctx.core.streams.follow(opened.queueId, opened.start, signal));
    },
    resolve: (event) => (event.kind === 'message' ? event.message : event),
  }),
}));
