import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import { findUnsendableHeader } from '../shared/http-header.ts';
import type { SsrfGuard } from './ssrf-guard.ts';

export interface OutboundRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  timeoutMs: number;
}

export type OutboundResult =
  | {
      kind: 'response';
      statusCode: number;
      headers: Record<string, string>;
      body: Buffer;
      truncated: boolean;
      durationMs: number;
    }
  /** No answer: refused by the SSRF guard, a timeout, a connection error. */
  | { kind: 'error'; error: string; refused: boolean; durationMs: number }
  /**
   * The request could not even be formed (a header value with CR/LF, say), so nothing was sent;
   * trying again would fail the same way.
   */
  | { kind: 'invalid'; error: string; durationMs: number };

/** Sends one HTTP request the service owes somebody; never throws. */
export interface HttpSender {
  send(request: OutboundRequest): Promise<OutboundResult>;
  close(): Promise<void>;
}

/** Responses are kept up to this size; the rest is dropped unread. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * undici with keep-alive connection pools. Redirects are not followed (undici's `request` never
 * does). The guard checks the address of every new connection through its `lookup`, and IP-literal
 * URLs (which never reach `lookup`) before each request.
 */
export function createHttpSender(guard: SsrfGuard, options: { connectionsPerOrigin?: number } = {}): HttpSender {
  const agent = new Agent({
    connect: { lookup: guard.lookup },
    connections: options.connectionsPerOrigin ?? 128,
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
  });
  return {
    async send(outbound) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      let url: URL;
      try {
        url = new URL(outbound.url);
      } catch {
        return { kind: 'error', error: `"${outbound.url}" is not a URL`, refused: true, durationMs: 0 };
      }
      const unsendable = findUnsendableHeader(outbound.headers);
      if (unsendable) return { kind: 'invalid', error: `invalid request: ${unsendable}`, durationMs: 0 };
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      if (isIP(host)) {
        const reason = guard.checkAddress(host);
        if (reason) return { kind: 'error', error: `refused: ${reason}`, refused: true, durationMs: 0 };
      }
      try {
        // One deadline for the whole attempt (name resolution, connecting, waiting, reading the
        // body): an attempt must never outlast the lease its worker holds on the delivery.
        const response = await request(url, {
          dispatcher: agent,
          method: outbound.method as 'POST',
          headers: outbound.headers,
          body: outbound.body,
          signal: AbortSignal.timeout(outbound.timeoutMs),
        });
        const { body, truncated } = await readCapped(response.body, MAX_RESPONSE_BYTES);
        return {
          kind: 'response',
          statusCode: response.statusCode,
          headers: flattenHeaders(response.headers),
          body,
          truncated,
          durationMs: elapsed(),
        };
      } catch (error) {
        const invalid = describeInvalidRequest(error);
        if (invalid) return { kind: 'invalid', error: invalid, durationMs: elapsed() };
        return { kind: 'error', ...describeFailure(error, outbound.timeoutMs), durationMs: elapsed() };
      }
    },
    close: () => agent.close(),
  };
}

/**
 * The body up to `limit` bytes; the rest is not read (the connection is closed instead). Listens
 * for chunks rather than iterating the stream: most answers are a few bytes, and this is the hot
 * path of every delivery.
 */
function readCapped(
  stream: NodeJS.ReadableStream & { destroy(error?: Error): void },
  limit: number,
): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (truncated: boolean) => {
      stream.removeAllListeners('data');
      resolve({ body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), truncated });
    };
    stream.on('data', (chunk: Buffer) => {
      const room = limit - size;
      if (chunk.length > room) {
        if (room > 0) chunks.push(chunk.subarray(0, room));
        size = limit;
        stream.destroy();
        finish(true);
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once('end', () => finish(false));
    stream.once('error', (error) => (size >= limit ? undefined : reject(error)));
  });
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * undici refuses to build some requests before connecting: InvalidArgumentError for a bad header
 * name or value ("invalid x-a header", "invalid header key") or method ("invalid request method"),
 * NotSupportedError for `expect`. Such a failure is the request's, not the network's. Anything
 * else, a TypeError from the guard's lookup included, is a failed connection and is tried again.
 */
function describeInvalidRequest(error: unknown): string | null {
  const failure = error as (Error & { code?: string }) | undefined;
  if (failure?.code === 'UND_ERR_INVALID_ARG' || failure?.code === 'UND_ERR_NOT_SUPPORTED') {
    return `invalid request: ${failure.message}`;
  }
  return null;
}

/** A sentence for the attempt log: why there was no answer. */
function describeFailure(error: unknown, timeoutMs: number): { error: string; refused: boolean } {
  const chain: Array<Error & { code?: string }> = [];
  for (let current = error as (Error & { code?: string; cause?: unknown }) | undefined; current; ) {
    chain.push(current);
    current = current.cause as typeof current;
    if (chain.length > 5) break;
  }
  const blocked = chain.find((e) => e.code === 'ERR_SSRF_BLOCKED');
  if (blocked) return { error: `refused: ${blocked.message}`, refused: true };
  if (
    chain.some(
      (e) => e.name === 'TimeoutError' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT',
    )
  ) {
    return { error: `timed out after ${timeoutMs} ms`, refused: false };
  }
  const root = chain.find((e) => e.code && e.code !== 'UND_ERR_SOCKET') ?? chain[chain.length - 1];
  const code = root?.code ? `${root.code}: ` : '';
  return { error: `connection failed: ${code}${root?.message ?? String(error)}`, refused: false };
}
