import { resolveOffsetConnection } from '@pothos/plugin-relay';
import type { User } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { requirePrincipal } from '../../context.ts';
import { unwrap, unwrapQuery } from '../../errors.ts';
import { commonErrors } from '../common/errors.ts';

export const UserRoleEnum = builder.enumType('UserRole', {
  values: { ADMIN: { value: 'admin' }, MEMBER: { value: 'member' } } as const,
});

export const UserRef = builder.loadableObjectRef<User, string>('User', {
  // The caller has already been allowed to see the object that points at this user.
  load: async (ids, ctx) => (await ctx.core.users.loadByIds(ids)).map((user) => user ?? new Error('No such user')),
});

UserRef.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    username: t.exposeString('username'),
    role: t.field({ type: UserRoleEnum, resolve: (user) => user.role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    passwordChangedAt: t.expose('passwordChangedAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({
    type: UserRef,
    nullable: true,
    description: 'The user behind the credentials of this request; null when there are none.',
    resolve: async (_root, _args, ctx) => {
      if (!ctx.principal) return null;
      return unwrapQuery(await ctx.core.users.getById(ctx.principal, ctx.principal.user.id));
    },
  }),
  user: t.field({
    type: UserRef,
    description: 'One user: yourself, or anyone for admins.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) =>
      unwrapQuery(await ctx.core.users.getById(requirePrincipal(ctx), String(args.id))),
  }),
  users: t.connection(
    {
      type: UserRef,
      description: 'Every user, by username (admins only).',
      resolve: async (_root, args, ctx) => {
        const principal = requirePrincipal(ctx);
        let totalCount = 0;
        const connection = await resolveOffsetConnection({ args }, async ({ limit, offset }) => {
          const page = unwrapQuery(await ctx.core.users.list(principal, { limit, offset }));
          totalCount = page.totalCount;
          return page.items;
        });
        return { ...connection, totalCount };
      },
    },
    { fields: (c) => ({ totalCount: c.int({ resolve: (conn) => (conn as { totalCount: number }).totalCount }) }) },
  ),
}));

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    username: t.string({ required: true }),
    password: t.string({ required: true }),
    role: t.field({ type: UserRoleEnum, required: false }),
  }),
});

const userResult = { types: commonErrors, dataField: { name: 'user' } } as const;

builder.mutationFields((t) => ({
  createUser: t.field({
    type: UserRef,
    description: 'Admins only.',
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    errors: userResult,
    resolve: async (_root, { input }, ctx) =>
      unwrap(
        await ctx.core.users.create(requirePrincipal(ctx), {
          username: input.username,
          password: input.password,
          role: input.role ?? 'member',
        }),
      ),
  }),
  updateUserRole: t.field({
    type: UserRef,
    description: 'Admins only. The last admin cannot be demoted.',
    args: { id: t.arg.id({ required: true }), role: t.arg({ type: UserRoleEnum, required: true }) },
    errors: userResult,
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.users.updateRole(requirePrincipal(ctx), String(args.id), args.role)),
  }),
  deleteUser: t.field({
    type: UserRef,
    description: 'Admins only. Deletes the user with their tokens and sessions.',
    args: { id: t.arg.id({ required: true }) },
    errors: userResult,
    resolve: async (_root, args, ctx) => unwrap(await ctx.core.users.delete(requirePrincipal(ctx), String(args.id))),
  }),
  changePassword: t.field({
    type: UserRef,
    description: 'Changes your own password and ends all your sessions (this one gets a new cookie).',
    args: {
      currentPassword: t.arg.string({ required: true }),
      newPassword: t.arg.string({ required: true }),
    },
    errors: userResult,
    resolve: async (_root, args, ctx) => {
      const principal = requirePrincipal(ctx);
      const user = unwrap(await ctx.core.users.changeOwnPassword(principal, args));
      if (principal.via === 'session' && ctx.sessionCookie) {
        const session = await ctx.core.auth.startSession(user.id, ctx.client);
        ctx.sessionCookie.set(session.sessionToken, session.expiresAt);
      }
      return user;
    },
  }),
  setUserPassword: t.field({
    type: UserRef,
    description: "Admins only: sets another user's password and ends their sessions.",
    args: { id: t.arg.id({ required: true }), password: t.arg.string({ required: true }) },
    errors: userResult,
    resolve: async (_root, args, ctx) =>
      unwrap(await ctx.core.users.setPassword(requirePrincipal(ctx), String(args.id), args.password)),
  }),
}));
