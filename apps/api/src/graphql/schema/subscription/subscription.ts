import type { DeliveryStats, RetryPolicy, Signing, Subscription, SubscriptionId } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { type GraphQLContext, requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { parseOptionalUuid, parseUuid } from '../common/ids.ts';
import { DeliveryConnection, DeliveryRef, DeliveryStatusEnum, resolveDeliveries } from '../delivery/delivery.ts';
import { HeaderRef } from '../queue/message.ts';
import { UserRef } from '../user/user.ts';
import {
  BodyFormatEnum,
  SigningSchemeEnum,
  SubscriptionInput,
  SubscriptionModeEnum,
  toChanges,
  toDefinition,
} from './subscription-input.ts';

/** How requests are signed; the secret itself is shown only when it is made. */
const SigningRef = builder.objectRef<Signing>('SubscriptionSigning').implement({
  fields: (t) => {
    const hmac = (key: 'header' | 'algorithm' | 'encoding' | 'prefix') =>
      t.string({ nullable: true, resolve: (s) => (s.scheme === 'hmac' ? s[key] : null) });
    return {
      scheme: t.field({ type: SigningSchemeEnum, resolve: (s) => s.scheme }),
      header: hmac('header'),
      algorithm: hmac('algorithm'),
      encoding: hmac('encoding'),
      prefix: hmac('prefix'),
    };
  },
});

export const RetryPolicyRef = builder.objectRef<RetryPolicy>('RetryPolicy').implement({
  description: 'Null fields follow the default: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±20%).',
  fields: (t) => ({
    scheduleMs: t.intList({ nullable: true, resolve: (p) => (p.scheduleMs ? [...p.scheduleMs] : null) }),
    maxAttempts: t.int({ nullable: true, resolve: (p) => p.maxAttempts ?? null }),
    // Up to 30 days in milliseconds, beyond a GraphQL Int.
    maxTotalMs: t.float({ nullable: true, resolve: (p) => p.maxTotalMs ?? null }),
  }),
});

const DeliveryStatsRef = builder.objectRef<DeliveryStats>('DeliveryStats').implement({
  description: 'How many deliveries are in each state.',
  fields: (t) => ({
    pending: t.exposeInt('pending'),
    delivering: t.exposeInt('delivering'),
    succeeded: t.exposeInt('succeeded'),
    failed: t.exposeInt('failed'),
    cancelled: t.exposeInt('cancelled'),
  }),
});

export const WebhookSubscriptionRef = builder.objectRef<Subscription>('WebhookSubscription').implement({
  description: "A user's endpoint: where matching events are delivered, signed and retried.",
  fields: (t) => ({
    id: t.exposeID('id'),
    userId: t.exposeID('userId'),
    user: t.field({ type: UserRef, resolve: (s) => s.userId }),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    url: t.exposeString('url'),
    eventTypes: t.exposeStringList('eventTypes'),
    filter: t.field({ type: 'JSON', nullable: true, resolve: (s) => s.filter }),
    headers: t.field({ type: [HeaderRef], resolve: (s) => Object.entries(s.headers) }),
    signing: t.field({ type: SigningRef, resolve: (s) => s.signing }),
    timeoutMs: t.exposeInt('timeoutMs'),
    retryPolicy: t.field({ type: RetryPolicyRef, resolve: (s) => s.retryPolicy }),
    rateLimitPerSecond: t.exposeInt('rateLimitPerSecond', { nullable: true }),
    maxInFlight: t.exposeInt('maxInFlight', {
      nullable: true,
      description: "Requests a worker keeps open to this endpoint at once; null: the worker's default.",
    }),
    mode: t.field({ type: SubscriptionModeEnum, resolve: (s) => s.mode }),
    bodyFormat: t.field({ type: BodyFormatEnum, resolve: (s) => s.bodyFormat }),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.exposeString('disabledReason', { nullable: true }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true }),
    consecutiveFailures: t.exposeInt('consecutiveFailures'),
    failingSince: t.expose('failingSince', { type: 'DateTime', nullable: true }),
    disableAfterFailures: t.exposeInt('disableAfterFailures', { nullable: true }),
    disableAfterMs: t.exposeFloat('disableAfterMs', { nullable: true }),
    failedAttempts: t.exposeInt('failedAttempts', {
      description:
        "Failed attempts since it was made or last enabled; a success does not reset it (the Webhook test tool's `failure_count`).",
    }),
    maxFailedAttempts: t.exposeInt('maxFailedAttempts', {
      nullable: true,
      description: 'Disabled once failedAttempts is more than this; null: never for that reason.',
    }),
    lastSuccessAt: t.expose('lastSuccessAt', { type: 'DateTime', nullable: true }),
    previousSecretExpiresAt: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation, requests carry a second signature with the old secret until then.',
    }),
    managedBy: t.exposeString('managedBy', {
      description: '`config` subscriptions are replaced when the config file is applied.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    stats: t.loadable({
      type: DeliveryStatsRef,
      // Not cached: see Delivery.attempts.
      loaderOptions: { cache: false },
      load: async (ids: SubscriptionId[], ctx: GraphQLContext) => {
        const stats = await ctx.core.deliveries.statsOf(ids);
        return ids.map((id) => stats.get(id) ?? { pending: 0, delivering: 0, succeeded: 0, failed: 0, cancelled: 0 });
      },
      resolve: (s) => s.id,
    }),
    deliveries: t.connection(
      {
        type: DeliveryRef,
        description: 'Newest first; cursors are delivery ids.',
        args: { status: t.arg({ type: [DeliveryStatusEnum] }) },
        resolve: (s, args, ctx) =>
          resolveDeliveries(ctx, args, { subscriptionId: s.id, status: args.status ?? undefined }),
      },
      DeliveryConnection,
    ),
  }),
});

/** Answered once, when a secret is made: at creation and at rotation. */
function withSecret(name: string, secretDescription: string) {
  return builder.objectRef<{ subscription: Subscription; secret: string }>(name).implement({
    fields: (t) => ({
      subscription: t.field({ type: WebhookSubscriptionRef, resolve: (r) => r.subscription }),
      secret: t.exposeString('secret', { description: secretDescription }),
    }),
  });
}
const CreateSubscriptionSuccess = withSecret(
  'CreateSubscriptionSuccess',
  'The signing secret (`whsec_...` for Standard Webhooks). Shown once.',
);
const RotateSubscriptionSecretSuccess = withSecret(
  'RotateSubscriptionSecretSuccess',
  'The new signing secret. Shown once.',
);

builder.queryFields((t) => ({
  subscriptions: t.field({
    type: [WebhookSubscriptionRef],
    description: "Your subscriptions, by name; admins may pass `allUsers: true` for everyone's.",
    args: { allUsers: t.arg.boolean() },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.subscriptions.list(requirePrincipal(ctx), { allUsers: args.allUsers ?? false })),
  }),
  subscription: t.field({
    type: WebhookSubscriptionRef,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.subscriptions.get(requirePrincipal(ctx), parseUuid(args.id, 'The subscription id'))),
  }),
}));

const subscriptionResult = { types: commonErrors, dataField: { name: 'subscription' } } as const;

builder.mutationFields((t) => ({
  createSubscription: t.field({
    type: CreateSubscriptionSuccess,
    description: 'Needs subscriptions:write. Admins may give `userId` to create it for someone else.',
    args: { input: t.arg({ type: SubscriptionInput, required: true }), userId: t.arg.id() },
    errors: { types: commonErrors, directResult: true },
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.subscriptions.create(requirePrincipal(ctx), toDefinition(args.input), {
          userId: parseOptionalUuid(args.userId, 'userId'),
        }),
      ),
  }),
  updateSubscription: t.field({
    type: WebhookSubscriptionRef,
    description:
      'Changes what the input names: a field left out keeps its stored value (the secret too, unless given).',
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: SubscriptionInput, required: true }) },
    errors: subscriptionResult,
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.subscriptions.update(
          requirePrincipal(ctx),
          parseUuid(args.id, 'The subscription id'),
          toChanges(args.input),
        ),
      ),
  }),
  deleteSubscription: t.field({
    type: WebhookSubscriptionRef,
    description: 'Deletes the subscription with its deliveries.',
    args: { id: t.arg.id({ required: true }) },
    errors: subscriptionResult,
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.subscriptions.delete(requirePrincipal(ctx), parseUuid(args.id, 'The subscription id'))),
  }),
  setSubscriptionEnabled: t.field({
    type: WebhookSubscriptionRef,
    description:
      'Disabling fails its pending deliveries with the reason (recover them later); enabling forgets the failures that counted towards disabling it.',
    args: { id: t.arg.id({ required: true }), enabled: t.arg.boolean({ required: true }), reason: t.arg.string() },
    errors: subscriptionResult,
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.subscriptions.setEnabled(
          requirePrincipal(ctx),
          parseUuid(args.id, 'The subscription id'),
          args.enabled,
          args.reason ?? undefined,
        ),
      ),
  }),
  rotateSubscriptionSecret: t.field({
    type: RotateSubscriptionSecretSuccess,
    description:
      'A new secret. The old one keeps signing too (a second signature) for `graceSeconds` (a day when left out, at most 30 days), so that receivers can switch without losing a delivery.',
    args: { id: t.arg.id({ required: true }), graceSeconds: t.arg.int() },
    errors: { types: commonErrors, directResult: true },
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.subscriptions.rotateSecret(
          requirePrincipal(ctx),
          parseUuid(args.id, 'The subscription id'),
          args.graceSeconds ?? undefined,
        ),
      ),
  }),
  recoverSubscriptionDeliveries: t.field({
    type: 'Int',
    description: 'Sends again every failed delivery of an enabled subscription created since a time; answers how many.',
    args: { id: t.arg.id({ required: true }), since: t.arg({ type: 'DateTime', required: true }) },
    errors: { types: commonErrors, dataField: { name: 'count' } },
    resolve: async (_root, args, ctx) =>
      unwrap(
        await ctx.core.deliveries.recover(requirePrincipal(ctx), parseUuid(args.id, 'The subscription id'), args.since),
      ).count,
  }),
}));
