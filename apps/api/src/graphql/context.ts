import type { ClientInfo, Core, Principal } from '@switchboard/core';
import { GraphQLError } from 'graphql';

/** What a resolver may use: core, who is asking, and (over HTTP only) the session cookie. */
export interface GraphQLContext {
  core: Core;
  principal: Principal | null;
  client: ClientInfo;
  /** Null over WebSockets, where no cookie can be set. */
  sessionCookie: SessionCookieWriter | null;
}

export interface SessionCookieWriter {
  set(token: string, expiresAt: Date): void;
  clear(): void;
}

export function requirePrincipal(ctx: GraphQLContext): Principal {
  if (!ctx.principal) {
    throw new GraphQLError('Authentication required: send a Bearer token, Basic credentials or a session cookie', {
      extensions: { code: 'UNAUTHENTICATED' },
    });
  }
  return ctx.principal;
}
