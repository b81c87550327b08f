import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN, basic, factories, gql, sessionCookieFrom, startTestServer, type TestServer } from './harness.ts';

interface Outcome {
  data?: unknown;
  errors?: unknown;
  closeCode?: number;
}

/** Runs one operation over graphql-ws and reports its result, or the code the server closed with. */
function runOverWebSocket(
  server: TestServer,
  query: string,
  options: { connectionParams?: Record<string, unknown>; cookie?: string } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = createClient({
      url: server.wsUrl,
      retryAttempts: 0,
      lazy: true,
      connectionParams: options.connectionParams,
      webSocketImpl: class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, options.cookie ? { headers: { cookie: options.cookie } } : {});
        }
      },
      on: {
        closed: (event) => resolve({ closeCode: (event as { code: number }).code }),
      },
    });
    let outcome: Outcome = {};
    client.subscribe(
      { query },
      {
        next: (value) => {
          outcome = { data: value.data, errors: value.errors };
        },
        error: (error) => {
          const code = (error as { code?: number }).code;
          void client.dispose();
          resolve(code ? { closeCode: code } : { errors: error });
        },
        complete: () => {
          void client.dispose();
          resolve(outcome);
        },
      },
    );
  });
}

describe('graphql-ws on /graphql', () => {
  let server: TestServer;
  let make: ReturnType<typeof factories>;
  beforeAll(async () => {
    server = await startTestServer();
    make = factories(server.core);
  });
  afterAll(async () => {
    await server.close();
  });

  it('accepts a connection with a Bearer token in the connection_init payload', async () => {
    const member = await make.user();
    const token = await member.token(['queues:read']);
    const outcome = await runOverWebSocket(server, '{ me { username } }', {
      connectionParams: { authorization: token.authorization },
    });
    expect(outcome).toEqual({ data: { me: { username: member.user.username } }, errors: undefined });
  });

  it('accepts Basic credentials in the payload and the console session cookie', async () => {
    const basicOutcome = await runOverWebSocket(server, '{ me { username } }', {
      connectionParams: { authorization: basic(ADMIN.username, ADMIN.password) },
    });
    expect(basicOutcome.data).toEqual({ me: { username: 'admin' } });

    const login = await gql(
      server,
      'mutation { login(username: "admin", password: "admin-password-for-tests") { __typename } }',
    );
    const cookie = sessionCookieFrom(login.headers);
    const cookieOutcome = await runOverWebSocket(server, '{ me { username } }', { cookie });
    expect(cookieOutcome.data).toEqual({ me: { username: 'admin' } });
  });

  it('refuses a connection without credentials with close code 4403', async () => {
    const outcome = await runOverWebSocket(server, '{ me { username } }');
    expect(outcome.closeCode).toBe(4403);
  });

  it('refuses a wrong, revoked or malformed token with close code 4403', async () => {
    const member = await make.user();
    const token = await member.token(['queues:read']);
    await server.core.tokens.revoke({ user: member.user, via: 'password', scopes: ['tokens:write'] }, token.token.id);
    for (const authorization of [token.authorization, 'Bearer nonsense', basic(ADMIN.username, 'wrong'), 42]) {
      const outcome = await runOverWebSocket(server, '{ me { username } }', { connectionParams: { authorization } });
      expect(outcome.closeCode).toBe(4403);
    }
  });

  it('checks the credentials again for each operation on an open connection', async () => {
    const member = await make.user();
    const token = await member.token(['queues:read']);
    const client = createClient({
      url: server.wsUrl,
      retryAttempts: 0,
      connectionParams: { authorization: token.authorization },
      webSocketImpl: WebSocket,
      // One connection for both operations: the second must be refused on the open socket.
      lazy: false,
    });
    const run = () =>
      new Promise<{ data?: unknown; errors?: unknown }>((resolve) => {
        let last: { data?: unknown; errors?: unknown } = {};
        client.subscribe(
          { query: '{ me { username } }' },
          {
            next: (value) => {
              last = value;
            },
            error: (errors) => resolve({ errors }),
            complete: () => resolve(last),
          },
        );
      });
    try {
      expect((await run()).data).toEqual({ me: { username: member.user.username } });
      await server.core.tokens.revoke({ user: member.user, via: 'password', scopes: ['tokens:write'] }, token.token.id);
      const after = await run();
      expect(after.data).toBeUndefined();
      expect(JSON.stringify(after.errors)).toContain('UNAUTHENTICATED');
    } finally {
      await client.dispose();
    }
  });

  it('applies the same validation and operation limits as HTTP: unknown fields, depth, aliases, cost, directives, tokens', async () => {
    const member = await make.user();
    const page = 'users(first: 100) { edges { node { id username role createdAt updatedAt passwordChangedAt } } }';
    // Each refused over HTTP for its own reason (see hostile-graphql.test.ts); the pattern names it.
    const refused: Array<[string, string, RegExp]> = [
      ['an unknown field', '{ nope }', /Cannot query field/],
      ['depth over 10', `{ ${'a { '.repeat(12)}b${' }'.repeat(12)} }`, /depth limit of 10/i],
      [
        'more than 20 aliases',
        `{ ${Array.from({ length: 25 }, (_, i) => `a${i}: me { id }`).join(' ')} }`,
        /aliases limit/i,
      ],
      ['cost over the limit', `{ ${Array.from({ length: 19 }, (_, i) => `p${i}: ${page}`).join(' ')} }`, /cost limit/i],
      ['more than 30 directives', `{ me ${'@skip(if: false) '.repeat(40)}{ id } }`, /directives limit/i],
      ['more than 2,000 tokens', `{ me { ${'id '.repeat(3000)} } }`, /token limit/i],
    ];
    const messagesOf = (errors: unknown) =>
      (Array.isArray(errors) ? errors : [errors]).map((e) => (e as { message?: string }).message ?? String(e));
    for (const [what, query, reason] of refused) {
      const overHttp = await gql(server, query, { authorization: member.authorization });
      const httpMessages = messagesOf(overHttp.body.errors);
      expect(httpMessages.join(' | '), `${what} over HTTP`).toMatch(reason);

      const overWs = await runOverWebSocket(server, query, {
        connectionParams: { authorization: member.authorization },
      });
      expect(overWs.data, `${what} over graphql-ws`).toBeUndefined();
      expect(messagesOf(overWs.errors), `${what} over graphql-ws`).toEqual(httpMessages);
    }
  });

  it('refuses WebSocket upgrades on other paths', async () => {
    const socket = new WebSocket(server.wsUrl.replace('/graphql', '/other'), 'graphql-transport-ws');
    const failure = await new Promise<string>((resolve) => {
      socket.on('error', (error) => resolve(String(error.message)));
      socket.on('open', () => resolve('opened'));
    });
    expect(failure).toContain('404');
  });
});
