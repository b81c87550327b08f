import type { Core, Principal } from '@switchboard/core';
import { type DocumentNode, type ExecutionArgs, GraphQLError } from 'graphql';
import type { Context } from 'graphql-ws';
import { type Extra, useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { authenticateCredentials, type Credentials, readCookie, SESSION_COOKIE } from '../http/authenticate.ts';
import { isForeignBrowserRequest, type OriginPolicy } from '../http/origin-guard.ts';
import type { SwitchboardYoga } from './yoga.ts';

type WsExtra = Extra & { principal?: Principal; credentials?: Credentials };
type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };

export interface WebSocketOptions {
  origins: OriginPolicy;
  /** Operations running at once on one socket; one more closes the socket with 4429. */
  maxOperationsPerSocket: number;
}

/** graphql-ws's code for too many requests: its clients take it as fatal and do not reconnect in a loop. */
export const TOO_MANY_OPERATIONS = 4429;

/**
 * graphql-ws (`graphql-transport-ws`) on the same path as GraphQL over HTTP. Every connection
 * must authenticate, with `{"authorization": "Bearer ..."}` (or Basic) in the connection_init
 * payload or with the console's session cookie; otherwise it is closed with 4403 Forbidden. The
 * cookie counts only on a socket opened by the server's own pages or a listed origin: a browser
 * sends it on any page's WebSocket, and graphql-ws runs mutations too.
 */
export function createGraphQLWebSocketServer(
  yoga: SwitchboardYoga,
  core: Core,
  logger: Logger,
  options: WebSocketOptions,
) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const server = useServer<Record<string, unknown> | undefined, { principal?: Principal }>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onConnect: async (ctx: Context<Record<string, unknown> | undefined, WsExtra>) => {
        const params = ctx.connectionParams ?? {};
        const authorization = params.authorization ?? params.Authorization;
        const request = ctx.extra.request;
        const foreign = isForeignBrowserRequest(options.origins, request);
        const credentials: Credentials = {
          authorization: typeof authorization === 'string' ? authorization : undefined,
          sessionToken: foreign ? undefined : readCookie(request.headers.cookie, SESSION_COOKIE),
          ip: request.socket.remoteAddress,
          userAgent: request.headers['user-agent'],
        };
        const outcome = await authenticateCredentials(core, credentials);
        if (outcome.kind !== 'authenticated') {
          logger.info({ ip: request.socket.remoteAddress, outcome: outcome.kind }, 'websocket refused');
          return false;
        }
        ctx.extra.principal = outcome.principal;
        ctx.extra.credentials = credentials;
        return true;
      },
      onSubscribe: async (ctx: Context<Record<string, unknown> | undefined, WsExtra>, _id, payload) => {
        // graphql-ws has already entered this operation in ctx.subscriptions, finished ones left it.
        if (Object.keys(ctx.subscriptions).length > options.maxOperationsPerSocket) {
          logger.info(
            { ip: ctx.extra.request.socket.remoteAddress, limit: options.maxOperationsPerSocket },
            'websocket closed: too many operations',
          );
          const reason = `Too many operations: at most ${options.maxOperationsPerSocket} operations may run at once on one socket`;
          ctx.extra.socket.close(TOO_MANY_OPERATIONS, reason);
          return [new GraphQLError(reason, { extensions: { code: 'TOO_MANY_OPERATIONS' } })];
        }
        // Checked again for every operation, so that a token revoked (or a password changed)
        // after the socket opened stops working on it too.
        const current = await authenticateCredentials(core, ctx.extra.credentials ?? {});
        if (current.kind !== 'authenticated') {
          return [
            new GraphQLError('The credentials of this connection are no longer valid', {
              extensions: { code: 'UNAUTHENTICATED' },
            }),
          ];
        }
        ctx.extra.principal = current.principal;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          principal: ctx.extra.principal ?? null,
          client: { ip: ctx.extra.request.socket.remoteAddress, userAgent: ctx.extra.request.headers['user-agent'] },
          sessionCookie: null,
        });
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as never];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        } as ExecutionArgs;
      },
    },
    wss,
  );
  return {
    wss,
    async close() {
      // Tells clients to reconnect elsewhere (1001 Going Away), as graphql-ws clients do on their own.
      await server.dispose();
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
