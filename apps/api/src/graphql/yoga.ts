import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { Core, Principal } from '@switchboard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { GraphQLContext, SessionCookieWriter } from './context.ts';
import { schema } from './schema.ts';

/** What the transport hands Yoga: Fastify's request and reply over HTTP, nothing over WebSockets. */
export interface ServerContext {
  principal: Principal | null;
  client: GraphQLContext['client'];
  sessionCookie: SessionCookieWriter | null;
  req?: FastifyRequest;
  reply?: FastifyReply;
}

export type SwitchboardYoga = YogaServerInstance<ServerContext, GraphQLContext>;

/** Limits that keep one hostile operation from costing more than a page of honest ones. */
export const operationLimits = {
  maxDepth: { n: 10, ignoreIntrospection: true },
  costLimit: { maxCost: 5_000, ignoreIntrospection: true },
  maxAliases: { n: 20 },
  maxDirectives: { n: 30 },
  maxTokens: { n: 2_000 },
  blockFieldSuggestion: { enabled: true },
} as const;

export function createSwitchboardYoga(core: Core, logger: Logger): SwitchboardYoga {
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    // Unexpected errors reach the client as "Unexpected error." with no stack; the log keeps the detail.
    maskedErrors: true,
    landingPage: false,
    graphiql: false,
    logging: {
      debug: (...args) => logger.debug(args.length === 1 ? args[0] : args),
      info: (...args) => logger.info(args.length === 1 ? args[0] : args),
      warn: (...args) => logger.warn(args.length === 1 ? args[0] : args),
      error: (...args) => logger.error(args.length === 1 ? args[0] : args),
    },
    plugins: [EnvelopArmorPlugin(operationLimits)],
    context: ({ principal, client, sessionCookie }) => ({ core, principal, client, sessionCookie }),
  });
}
