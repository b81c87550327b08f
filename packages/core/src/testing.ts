import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Test helpers: a local HTTP receiver that records what reaches it. Not used by the service. */

/** Unwraps a core result in a test, failing loudly with the error. */
export function must<T>(result: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  receivedAt: number;
}

/** A request's headers as the `standardwebhooks` package wants them: one string each. */
export function headersOf(request: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Send the status and headers at once, and the body this much later. */
  bodyDelayMs?: number;
}

export type Responder = (request: ReceivedRequest, index: number) => Reply | Promise<Reply>;

export interface TestReceiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Changes how the next requests are answered. */
  respondWith(responder: Responder): void;
  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(
  responder: Responder = () => ({ status: 200 }),
  host = '127.0.0.1',
): Promise<TestReceiver> {
  let respond = responder;
  const requests: ReceivedRequest[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        receivedAt: Date.now(),
      };
      const index = requests.push(received) - 1;
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      try {
        const reply = await respond(received, index);
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        res.writeHead(reply.status ?? 200, reply.headers ?? {});
        if (reply.bodyDelayMs) {
          res.flushHeaders();
          await new Promise((r) => setTimeout(r, reply.bodyDelayMs));
        }
        res.end(reply.body ?? '');
      } catch {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    requests,
    respondWith(next) {
      respond = next;
    },
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`receiver got ${requests.length} of ${count} requests in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * webhook-proxy's README examples, byte for byte as its README prints them (the short example, the
 * GitHub push example, the Docker Compose example), for tests that must load its users' files as
 * they stand.
 */
export function webhookProxyExample(name: 'readme-short' | 'readme-github' | 'readme-dockerhub'): string {
  return readFileSync(new URL(`../test/fixtures/webhook-proxy/${name}.yml`, import.meta.url), 'utf8');
}

/** A stub of the Docker Engine API on a unix socket, for the docker and docker-compose actions. */
export { type DockerApiStub, startDockerApiStub } from '../test/support/docker-api-stub.ts';
