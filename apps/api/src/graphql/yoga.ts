import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { Core, Principal } from '@switchboard/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GraphQLError, ValidationContext } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { OriginPolicy } from '../http/origin-guard.ts';
import type { GraphQLContext, SessionCookieWriter } from './context.ts';
import { useSimpleRequestRefusal } from './csrf-prevention.ts';
import { useInputGuard } from './input-guard.ts';
import { type IntrospectionSetting, useIntrospectionPolicy } from './introspection.ts';
import { schema } from './schema.ts';
import { maskErrorsExceptUnavailable } from './unavailable.ts';

/** What the transport hands Yoga: Fastify's request and reply over HTTP, nothing over WebSockets. */
export interface ServerContext {
  principal: Principal | null;
  client: GraphQLContext['client'];
  sessionCookie: SessionCookieWriter | null;
  req?: FastifyRequest;
  reply?: FastifyReply;
}

export type SwitchboardYoga = YogaServerInstance<ServerContext, GraphQLContext>;

/**
 * Reports a refused operation as an ordinary validation error (code GRAPHQL_VALIDATION_FAILED),
 * so that it gets the same status as any other invalid document: 400 for
 * application/graphql-response+json clients, 200 with errors for application/json ones.
 */
const reportAsValidationError = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

/** Limits that keep one hostile operation from costing more than a page of honest ones. */
export const operationLimits = {
  maxDepth: { n: 10, ignoreIntrospection: true, ...reportAsValidationError },
  costLimit: { maxCost: 5_000, ignoreIntrospection: true, ...reportAsValidationError },
  maxAliases: { n: 20, ...reportAsValidationError },
  maxDirectives: { n: 30, ...reportAsValidationError },
  // Counted while parsing, before there is a validation context: this one throws.
  maxTokens: { n: 2_000 },
  blockFieldSuggestion: { enabled: true },
};

export const GRAPHQL_ENDPOINT = '/graphql';

export interface YogaOptions {
  origins: OriginPolicy;
  introspection: IntrospectionSetting;
}

export function createSwitchboardYoga(core: Core, logger: Logger, options: YogaOptions): SwitchboardYoga {
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: GRAPHQL_ENDPOINT,
    // Unexpected errors reach the client as "Unexpected error." with no stack; the log keeps the detail.
    maskedErrors: { maskError: maskErrorsExceptUnavailable },
    landingPage: false,
    // Credentialed CORS for listed origins only; any other origin gets no CORS headers at all,
    // so a browser neither sends its preflighted requests nor lets its page read an answer.
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (!origin || !options.origins.isListed(origin)) return false;
      return { origin: [origin], credentials: true, methods: ['GET', 'POST'], maxAge: 600 };
    },
    // A browser that opens /graphql signed in gets GraphiQL (its assets bundled, no CDN); anyone
    // else gets the API (the route sends a signed-out browser to the sign-in page first).
    graphiql: (_request, context) =>
      context?.principal
        ? { title: 'Switchboard GraphiQL', subscriptionsProtocol: 'WS', credentials: 'same-origin' }
        : false,
    renderGraphiQL,
    logging: {
      debug: (...args) => logger.debug(args.length === 1 ? args[0] : args),
      info: (...args) => logger.info(args.length === 1 ? args[0] : args),
      warn: (...args) => logger.warn(args.length === 1 ? args[0] : args),
      error: (...args) => logger.error(args.length === 1 ? args[0] : args),
    },
    plugins: [
      useSimpleRequestRefusal(),
      useIntrospectionPolicy(options.introspection),
      EnvelopArmorPlugin(operationLimits),
      useInputGuard(),
    ],
    context: ({ principal, client, sessionCookie }) => ({ core, principal, client, sessionCookie }),
  });
}
