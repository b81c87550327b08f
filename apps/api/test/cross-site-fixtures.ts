import { request as httpRequest } from 'node:http';
import WebSocket from 'ws';
import { ADMIN, gql, sessionCookieFrom, type TestServer } from './harness.ts';

export async function loginCookie(server: TestServer): Promise<string> {
  const login = await gql(
    server,
    `mutation { login(username: "${ADMIN.username}", password: "${ADMIN.password}") { __typename } }`,
  );
  const cookie = sessionCookieFrom(login.headers);
  if (!cookie) throw new Error(`login set no cookie: ${JSON.stringify(login.body)}`);
  return cookie;
}

/**
 * Opens graphql-ws with only the session cookie (and the given headers, Host included) and reports
 * whether `connection_ack` or a close came first.
 */
export function connectWithCookie(
  server: TestServer,
  cookie: string,
  headers: Record<string, string> = {},
): Promise<'ack' | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { headers: { cookie, ...headers } });
    const deadline = setTimeout(() => reject(new Error('no connection_ack nor close within 10 s')), 10_000);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') {
        clearTimeout(deadline);
        socket.close(1000);
        resolve('ack');
      }
    });
    socket.on('close', (code) => {
      clearTimeout(deadline);
      resolve(code);
    });
    socket.on('error', () => {});
  });
}

/** An HTTP request with exactly the given headers: fetch replaces Host, a proxy in front of us does not. */
export function send(
  server: TestServer,
  path: string,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${server.url}${path}`, { method: options.method, headers: options.headers });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(options.body);
  });
}
