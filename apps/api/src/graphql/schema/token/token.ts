import { type ApiToken, SCOPES } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';
import { UserRef } from '../user/user.ts';

export const ApiTokenRef = builder.objectRef<ApiToken>('ApiToken').implement({
  description: 'An API token. Its secret is shown once, when it is created, and never again.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The public part of the token (`sb_<id>_...`).' }),
    name: t.exposeString('name'),
    scopes: t.exposeStringList('scopes'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    user: t.field({ type: UserRef, resolve: (token) => token.userId }),
  }),
});

const CreatedToken = builder.objectRef<{ token: ApiToken; secret: string }>('CreatedToken').implement({
  fields: (t) => ({
    token: t.field({ type: ApiTokenRef, resolve: (created) => created.token }),
    secret: t.exposeString('secret', {
      description: 'The whole token, to send as `Authorization: Bearer`. Shown once.',
    }),
  }),
});

builder.queryFields((t) => ({
  scopes: t.stringList({ description: 'Every scope a token can carry.', resolve: () => [...SCOPES] }),
  tokens: t.field({
    type: [ApiTokenRef],
    description: "Your tokens. Admins may pass `userId` for another user's, or `allUsers: true` for everyone's.",
    args: {
      userId: t.arg.id({ required: false }),
      allUsers: t.arg.boolean({ required: false }),
      includeRevoked: t.arg.boolean({ required: false }),
    },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(
        await ctx.core.tokens.list(requirePrincipal(ctx), {
          userId: args.allUsers ? null : (args.userId ?? undefined)?.toString(),
          includeRevoked: args.includeRevoked ?? false,
        }),
      ),
  }),
}));

const CreateTokenInput = builder.inputType('CreateTokenInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    scopes: t.stringList({ required: true }),
    userId: t.id({ required: false, description: 'Admins only: create the token for this user.' }),
    expiresAt: t.field({ type: 'DateTime', required: false }),
  }),
});

builder.mutationFields((t) => ({
  createToken: t.field({
    type: CreatedToken,
    args: { input: t.arg({ type: CreateTokenInput, required: true }) },
    errors: { types: commonErrors, dataField: { name: 'created' } },
    resolve: async (_root, { input }, ctx) =>
      unwrap(
        await ctx.core.tokens.create(requirePrincipal(ctx), {
          name: input.name,
          scopes: input.scopes,
          userId: input.userId?.toString(),
          expiresAt: input.expiresAt ?? null,
        }),
      ),
  }),
  revokeToken: t.field({
    type: ApiTokenRef,
    description: "Revokes one of your tokens (admins: anyone's). It stops working at once.",
    args: { id: t.arg.id({ required: true }) },
    errors: { types: commonErrors, dataField: { name: 'token' } },
    resolve: async (_root, args, ctx) => unwrap(await ctx.core.tokens.revoke(requirePrincipal(ctx), String(args.id))),
  }),
}));
