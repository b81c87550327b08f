'use client';

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { useCallback, useEffect, useRef, useState } from 'react';
import { graphql } from '../gql';
import type { StreamedMessageFragment } from '../gql/graphql';

/**
 * A message as the live pages list it. Declared here for the documents that spread it (the
 * stream subscriptions below, by way of StreamEvent); its type is StreamedMessage.
 */
graphql(`
  fragment StreamedMessage on Message {
    seq
    receivedAt
    size
    contentType
    sourceIp
    body
  }
`);

export type StreamedMessage = StreamedMessageFragment;

/** One event of any message stream (a queue's, a client's): a message, or the refresh signal. */
graphql(`
  fragment StreamEvent on MessageStreamEvent {
    __typename
    ... on Message {
      ...StreamedMessage
    }
    ... on RefreshSignal {
      currentSeq
      message
    }
  }
`);

/** One event of a message stream: a message, or the refresh signal. */
export type StreamEvent =
  | ({ __typename: 'Message' } & StreamedMessage)
  | { __typename: 'RefreshSignal'; currentSeq: number; message: string };

export interface StreamState {
  /** Newest first, at most `keep`. */
  messages: StreamedMessage[];
  /** Arrived while paused, not shown yet. */
  held: number;
  /** The last sequence number seen (the cursor a reconnect resumes from). */
  lastSeq: number | null;
  /** Refresh signals received: messages were dropped before they could be seen. */
  refreshes: Array<{ at: string; currentSeq: number; message: string }>;
  connection: 'connecting' | 'live' | 'reconnecting';
  error: string | null;
}

const RETRY_MS = 1000;

/**
 * Follows a stream of messages (a queue's or a client's) over the console's graphql-ws socket.
 * Starts after `after` (or from now), then keeps the last sequence number seen; when the socket
 * drops it subscribes again with that number as `after`, so that the server sends exactly what
 * was missed: no gap and, since anything at or below the cursor is ignored too, no duplicate.
 */
export function useMessageStream<Variables extends { after?: number | null }>(options: {
  socket: WsClient;
  document: TypedDocumentNode<unknown, Variables>;
  variables: Omit<Variables, 'after'>;
  /** Picks the stream event out of a result's data. */
  select: (data: unknown) => StreamEvent | null;
  after: number | null;
  paused: boolean;
  keep?: number;
}): StreamState & { showHeld(): void } {
  const { socket, document, select, paused } = options;
  const keep = options.keep ?? 500;
  const key = JSON.stringify(options.variables);
  const [state, setState] = useState<StreamState>({
    messages: [],
    held: 0,
    lastSeq: options.after,
    refreshes: [],
    connection: 'connecting',
    error: null,
  });
  const lastSeq = useRef<number | null>(options.after);
  const pending = useRef<StreamedMessage[]>([]);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  const flush = useCallback(() => {
    const arrived = pending.current;
    pending.current = [];
    setState((s) => ({ ...s, held: 0, messages: [...arrived.reverse(), ...s.messages].slice(0, keep) }));
  }, [keep]);

  useEffect(() => {
    if (!paused && pending.current.length > 0) flush();
  }, [paused, flush]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new stream per subject (key), not per render
  useEffect(() => {
    let stopped = false;
    let unsubscribe: (() => void) | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const query = print(document);
    const variables = JSON.parse(key) as Record<string, unknown>;

    const start = () => {
      if (stopped) return;
      let failed = false;
      unsubscribe = socket.subscribe(
        { query, variables: { ...variables, after: lastSeq.current } },
        {
          next(result) {
            if (result.errors?.length) {
              setState((s) => ({ ...s, error: result.errors?.map((e) => e.message).join('; ') ?? null }));
              return;
            }
            const event = select(result.data);
            if (!event) return;
            if (event.__typename === 'RefreshSignal') {
              lastSeq.current = event.currentSeq;
              setState((s) => ({
                ...s,
                lastSeq: event.currentSeq,
                refreshes: [
                  { at: new Date().toISOString(), currentSeq: event.currentSeq, message: event.message },
                  ...s.refreshes,
                ].slice(0, 20),
              }));
              return;
            }
            // Already seen: a stream resumed from an older cursor repeats nothing on screen.
            if (lastSeq.current !== null && event.seq <= lastSeq.current) return;
            lastSeq.current = event.seq;
            const { __typename: _type, ...message } = event;
            pending.current.push(message);
            if (pausedRef.current) {
              setState((s) => ({ ...s, lastSeq: event.seq, held: pending.current.length, connection: 'live' }));
            } else {
              setState((s) => ({ ...s, lastSeq: event.seq, connection: 'live', error: null }));
              flush();
            }
          },
          error(error) {
            failed = true;
            const message = Array.isArray(error)
              ? error.map((e: { message?: string }) => e.message).join('; ')
              : error instanceof Error
                ? error.message
                : 'the connection to the server was lost';
            setState((s) => ({ ...s, connection: 'reconnecting', error: message }));
            unsubscribe = null;
            retry = setTimeout(start, RETRY_MS);
          },
          complete() {
            if (failed || stopped) return;
            unsubscribe = null;
            retry = setTimeout(start, RETRY_MS);
          },
        },
      );
    };

    // A dropped socket: resubscribe from the last sequence seen once it is back.
    const offClosed = socket.on('closed', () => {
      if (stopped || !unsubscribe) return;
      const current = unsubscribe;
      unsubscribe = null;
      current();
      setState((s) => ({ ...s, connection: 'reconnecting' }));
      clearTimeout(retry);
      retry = setTimeout(start, RETRY_MS);
    });
    const offConnected = socket.on('connected', () => setState((s) => ({ ...s, connection: 'live', error: null })));
    start();
    return () => {
      stopped = true;
      clearTimeout(retry);
      offClosed();
      offConnected();
      unsubscribe?.();
    };
  }, [socket, key]);

  return { ...state, showHeld: flush };
}
