import type { CompiledQueue } from '../queue-registry.ts';
import type { RequestView } from './template-scope.ts';

/** The request a stored message came in, as templates see it; a message stored without its request line came by POST to `/q/:name`. */
export function requestViewOf(
  queue: Pick<CompiledQueue, 'name'>,
  message: {
    body: Buffer;
    headers: Record<string, string>;
    sourceIp: string | null;
    request: { method: string; path: string; query: Record<string, string> } | null;
  },
): RequestView {
  return {
    method: message.request?.method ?? 'POST',
    path: message.request?.path ?? `/q/${queue.name}`,
    query: message.request?.query ?? {},
    headers: message.headers,
    body: message.body,
    remoteAddress: message.sourceIp,
  };
}
