import { randomBytes } from 'node:crypto';
import { type Core, type Scope, scopesForRole, type User, type UserRole } from '@switchboard/core';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { createSwitchboard, type Switchboard } from '../src/app.ts';
import { loadEnv } from '../src/env.ts';
import { createLogger } from '../src/logger.ts';

export const ADMIN = { username: 'admin', password: 'admin-password-for-tests' } as const;

export interface TestServer {
  url: string;
  wsUrl: string;
  core: Core;
  switchboard: Switchboard;
  database: TestDatabase;
  close(): Promise<void>;
}

/**
 * A running Switchboard on its own fresh database (Postgres or PGlite, per TEST_DB), listening on
 * an ephemeral loopback port, with the first admin created from ADMIN.
 */
export async function startTestServer(
  options: {
    env?: Record<string, string>;
    core?: Parameters<typeof createSwitchboard>[0]['core'];
    /** The console's files; the real build (apps/console/out) unless given. */
    consoleDir?: string;
    /** What queues' actions may use (their templates' environment, a Docker host, commands). */
    actions?: Parameters<typeof createSwitchboard>[0]['actions'];
  } = {},
): Promise<TestServer> {
  const database = await createTestDatabase();
  const env = loadEnv({
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const switchboard = await createSwitchboard({
    env,
    logger: createLogger(env.LOG_LEVEL),
    database: database.client,
    core: options.core,
    consoleDir: options.consoleDir,
    actions: options.actions,
  });
  await switchboard.app.listen({ port: 0, host: '127.0.0.1' });
  const address = switchboard.app.server.address();
  if (!address || typeof address === 'string') throw new Error('server has no port');
  const url = `http://127.0.0.1:${address.port}`;
  return {
    url,
    wsUrl: `ws://127.0.0.1:${address.port}/graphql`,
    core: switchboard.core,
    switchboard,
    database,
    async close() {
      await switchboard.stop();
      await database.drop();
    },
  };
}

export function uniqueName(prefix = 'user'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
export const bearer = (token: string) => `Bearer ${token}`;

/** Chained factories over core, as an admin would create things. */
export function factories(core: Core) {
  const adminPrincipal = async () => {
    const admin = await core.users.findByUsername(ADMIN.username);
    if (!admin) throw new Error('no admin');
    return { user: admin, via: 'password' as const, scopes: scopesForRole('admin') };
  };
  return {
    async user(options: { role?: UserRole; password?: string } = {}) {
      const password = options.password ?? `pw-${randomBytes(8).toString('hex')}`;
      const principal = await adminPrincipal();
      const result = await core.users.create(principal, {
        username: uniqueName(),
        password,
        role: options.role ?? 'member',
      });
      if (!result.ok) throw new Error(result.error.message);
      const user: User = result.value;
      return {
        user,
        password,
        authorization: basic(user.username, password),
        async token(scopes: Scope[], name = uniqueName('token')) {
          const created = await core.tokens.create(
            { user, via: 'password', scopes: scopesForRole(user.role) },
            { name, scopes },
          );
          if (!created.ok) throw new Error(created.error.message);
          return { ...created.value, authorization: bearer(created.value.secret) };
        },
      };
    },
  };
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
}

/** POSTs one GraphQL operation; `authorization` and `cookie` are sent when given. */
export async function gql<T = Record<string, any>>(
  server: Pick<TestServer, 'url'>,
  query: string,
  options: { variables?: Record<string, unknown>; authorization?: string; cookie?: string } = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json;q=0.9',
  };
  if (options.authorization) headers.authorization = options.authorization;
  if (options.cookie) headers.cookie = options.cookie;
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables: options.variables }),
  });
  const text = await response.text();
  let body: GraphQLResponse<T>['body'];
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${response.status}): ${text.slice(0, 200)}`);
  }
  return { status: response.status, headers: response.headers, body };
}

/** The `name=value` part of a Set-Cookie header, ready to send back as a Cookie header. */
export function sessionCookieFrom(headers: Headers): string | undefined {
  const cookie = headers.getSetCookie().find((c) => c.startsWith('sb_session='));
  return cookie?.split(';')[0];
}
