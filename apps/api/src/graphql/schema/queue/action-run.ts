import type { ActionRunRow, MessageRun, RejectedMessage } from '@switchboard/core';
import { GraphQLError } from 'graphql';
import { abortable } from '../../abortable.ts';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { HeaderRef, MessageRef } from './message.ts';
import { QueueRef } from './queue.ts';

const ActionRunRef = builder.objectRef<ActionRunRow>('ActionRun').implement({
  description:
    "One action of a message's list, as it last ran. An http or forward action run in the worker is `queued`: its request is a delivery, and `deliveryStatus` says how it went.",
  fields: (t) => ({
    position: t.exposeInt('position', { description: "Its place in the queue's list, from 0." }),
    action: t.exposeString('action', { description: 'Its name: log, http, forward, execute, ...' }),
    status: t.exposeString('status', { description: 'succeeded, failed, or queued (a delivery carries it on).' }),
    output: t.exposeString('output', { nullable: true, description: 'What it printed, at most 64 KiB.' }),
    error: t.exposeString('error', { nullable: true }),
    durationMs: t.exposeInt('durationMs', { nullable: true }),
    attempts: t.exposeInt('attempts'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    deliveryId: t.id({ nullable: true, resolve: (r) => (r.deliveryId === null ? null : String(r.deliveryId)) }),
    deliveryStatus: t.exposeString('deliveryStatus', { nullable: true }),
    deliveryAttempts: t.exposeInt('deliveryAttempts', { nullable: true }),
  }),
});

export const MessageRunRef = builder.objectRef<MessageRun>('MessageRun').implement({
  description: "A message's actions: how their run stands, and each action's last run.",
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    status: t.exposeString('status', { description: 'none, pending, running, succeeded or failed.' }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why the run stopped, or why it will be tried again.',
    }),
    actions: t.field({ type: [ActionRunRef], resolve: (r) => r.actions }),
  }),
});

const RejectedMessageRef = builder.objectRef<RejectedMessage>('RejectedMessage').implement({
  description: "A request the queue's rules refused, kept because the queue asks (`rejected: store`).",
  fields: (t) => ({
    id: t.id({ resolve: (r) => String(r.id) }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime' }),
    method: t.exposeString('method'),
    path: t.exposeString('path'),
    headers: t.field({ type: [HeaderRef], resolve: (r) => Object.entries(r.headers) }),
    body: t.string({ resolve: (r) => r.body.toString('utf8') }),
    sourceIp: t.exposeString('sourceIp', { nullable: true }),
    rule: t.exposeString('rule', { description: 'The path of the rule that refused it, e.g. headers.X-GitHub-Event.' }),
    field: t.exposeString('field'),
    reason: t.exposeString('reason'),
  }),
});

builder.objectField(MessageRef, 'actionRun', (t) =>
  t.field({
    type: MessageRunRef,
    nullable: true,
    description: "The message's action runs (admins only; null for others).",
    resolve: (message, _args, ctx) =>
      ctx.core.actionRuns.forMessage(requirePrincipal(ctx), message.queueId, message.seq),
  }),
);

builder.objectField(QueueRef, 'rejectedMessages', (t) =>
  t.field({
    type: [RejectedMessageRef],
    description: 'Requests the rules refused, newest first (admins only; kept when the queue asks).',
    args: { first: t.arg.int({ defaultValue: 50 }), before: t.arg.id() },
    resolve: async (queue, args, ctx) => {
      const before = args.before === null || args.before === undefined ? undefined : Number(args.before);
      if (before !== undefined && !(Number.isSafeInteger(before) && before >= 0)) {
        throw new GraphQLError('before is the id of a rejected message', { extensions: { code: 'BAD_USER_INPUT' } });
      }
      return unwrapQuery(
        await ctx.core.actionRuns.rejections(requirePrincipal(ctx), queue.name, args.first ?? 50, before),
      );
    },
  }),
);

builder.mutationFields((t) => ({
  rerunActions: t.field({
    type: MessageRunRef,
    description: "Admins only. Runs the queue's actions for one message again, from the first, in the worker.",
    args: { queue: t.arg.string({ required: true }), seq: t.arg.int({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'run' } },
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.actionRuns.rerun(requirePrincipal(ctx), args.queue, args.seq)),
  }),
}));

builder.subscriptionFields((t) => ({
  actionRunUpdates: t.field({
    type: MessageRunRef,
    description: "Admins only. A message's action runs as they are, then again on every change.",
    args: { queue: t.arg.string({ required: true }), seq: t.arg.int({ required: true }) },
    subscribe: async (_root, args, ctx) => {
      const run = unwrapQuery(await ctx.core.actionRuns.open(requirePrincipal(ctx), args.queue, args.seq));
      return abortable((signal) => ctx.core.actionRuns.follow(run, signal));
    },
    resolve: (run) => run,
  }),
}));
