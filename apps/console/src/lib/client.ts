import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from 'urql';

/** Events of the WebSocket the live pages show (connecting, connected, closed). */
export type SocketState = 'connecting' | 'connected' | 'closed';

type Listener = (state: SocketState) => void;

/**
 * The console's GraphQL client: queries and mutations over HTTP to `/graphql` on the same origin
 * (the session cookie goes with them; JSON bodies pass the API's CSRF check), subscriptions over
 * one graphql-ws socket, which reconnects on its own after a drop. A live page resumes its stream
 * from the last sequence number it saw (see useQueueStream), so a reconnect loses nothing and
 * repeats nothing.
 */
export function createConsoleClient(): { client: Client; socket: WsClient; onSocket(listener: Listener): () => void } {
  const listeners = new Set<Listener>();
  const emit = (state: SocketState) => {
    for (const listener of listeners) listener(state);
  };
  const origin = typeof window === 'undefined' ? 'http://127.0.0.1:4000' : window.location.origin;
  const socket = createWsClient({
    url: `${origin.replace(/^http/, 'ws')}/graphql`,
    lazy: true,
    // Keep trying for as long as the page is open: a laptop waking up, a proxy restarting.
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 5000)));
    },
    on: {
      connecting: () => emit('connecting'),
      connected: () => emit('connected'),
      closed: () => emit('closed'),
    },
  });
  const client = new Client({
    url: '/graphql',
    fetchOptions: {
      credentials: 'same-origin',
      headers: { accept: 'application/graphql-response+json, application/json' },
    },
    preferGetMethod: false,
    requestPolicy: 'cache-and-network',
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              const unsubscribe = socket.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return {
    client,
    socket,
    onSocket(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
