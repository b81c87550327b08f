import { builder } from '../../builder.ts';
import { InvalidCredentialsError, RateLimitedError, unwrap, ValidationError } from '../../errors.ts';
import { UserRef } from '../user/user.ts';

const SessionRef = builder.objectRef<{ userId: string; expiresAt: Date }>('Session').implement({
  description: 'A console session; its id travels only in an httpOnly cookie.',
  fields: (t) => ({
    user: t.field({ type: UserRef, resolve: (session) => session.userId }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
  }),
});

builder.mutationFields((t) => ({
  login: t.field({
    type: SessionRef,
    description: 'Starts a console session and sets its httpOnly cookie. Over HTTP only.',
    args: { username: t.arg.string({ required: true }), password: t.arg.string({ required: true }) },
    errors: { types: [InvalidCredentialsError, RateLimitedError, ValidationError], dataField: { name: 'session' } },
    resolve: async (_root, args, ctx) => {
      if (!ctx.sessionCookie) {
        throw new ValidationError('login needs an HTTP request, where the cookie can be set', []);
      }
      const session = unwrap(await ctx.core.auth.login(args.username, args.password, ctx.client));
      ctx.sessionCookie.set(session.sessionToken, session.expiresAt);
      return { userId: session.principal.user.id, expiresAt: session.expiresAt };
    },
  }),
  logout: t.boolean({
    description: 'Ends the current session and clears its cookie; true when there was one.',
    resolve: async (_root, _args, ctx) => {
      ctx.sessionCookie?.clear();
      if (ctx.principal?.via !== 'session') return false;
      await ctx.core.auth.logout(ctx.principal);
      return true;
    },
  }),
}));
