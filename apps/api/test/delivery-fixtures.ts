import { systemPrincipal } from '@switchboard/core';
import {
  headersOf,
  type ReceivedRequest,
  type Reply,
  startReceiver,
  type TestReceiver,
} from '@switchboard/core/testing';
import { type Client, createClient } from 'graphql-ws';
import { Webhook } from 'standardwebhooks';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { gql, startTestServer, type TestServer } from './harness.ts';

/**
 * A server whose own worker delivers to a local receiver. The receiver answers by path: a test
 * gives each subscription its own path and sets how that path answers (200 unless told).
 */
export async function startDeliveryServer() {
  const server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
  const replies = new Map<string, Reply>();
  const receiver: TestReceiver = await startReceiver((request) => replies.get(request.path) ?? { status: 200 });
  return {
    server,
    receiver,
    replies,
    /** Requests that reached one path, in order. */
    at: (path: string) => receiver.requests.filter((r) => r.path === path),
    async close() {
      await server.close();
      await receiver.close();
    },
  };
}

export async function createEventType(server: TestServer, name: string, schema: Record<string, unknown> | null = null) {
  const created = await server.core.eventTypes.create(systemPrincipal, { name, description: null, schema });
  if (!created.ok) throw new Error(created.error.message);
}

export const CREATE_SUBSCRIPTION = `mutation($input: SubscriptionInput!, $userId: ID) {
  createSubscription(input: $input, userId: $userId) {
    __typename
    ... on CreateSubscriptionSuccess { secret subscription { id name url userId enabled } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;

/** Creates a subscription over GraphQL and answers its id and secret; fails the test otherwise. */
export async function createSubscription(
  server: TestServer,
  authorization: string,
  input: Record<string, unknown>,
): Promise<{ id: string; secret: string }> {
  const res = await gql(server, CREATE_SUBSCRIPTION, { authorization, variables: { input } });
  const result = res.body.data?.createSubscription;
  if (result?.__typename !== 'CreateSubscriptionSuccess') throw new Error(`not created: ${JSON.stringify(res.body)}`);
  return { id: result.subscription.id, secret: result.secret };
}

export const PUBLISH = `mutation($input: PublishEventInput!) {
  publishEvent(input: $input) {
    __typename
    ... on PublishEventSuccess {
      duplicate deliveryCount
      event { id type payload status cancelReason publisherId idempotencyKey }
      cancellation { reason subscriptionId }
      blocking { subscriptionId succeeded statusCode error }
    }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;

export async function publish(server: TestServer, authorization: string, input: Record<string, unknown>) {
  const res = await gql(server, PUBLISH, { authorization, variables: { input } });
  return res.body.data?.publishEvent;
}

/** Polls until `done` holds for what `read` answers; fails with the last answer after a while. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`did not settle: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether the `standardwebhooks` package accepts the request as signed with this secret. */
export function hasValidSignature(request: ReceivedRequest, secret: string): boolean {
  try {
    new Webhook(secret).verify(request.body, headersOf(request));
    return true;
  } catch {
    return false;
  }
}

/** A graphql-ws subscription that collects every payload (and error) it receives. */
export function subscribeOverWebSocket(
  wsUrl: string,
  authorization: string,
  query: string,
  variables: Record<string, unknown> = {},
) {
  const client: Client = createClient({
    url: wsUrl,
    retryAttempts: 0,
    lazy: false,
    connectionParams: { authorization },
    webSocketImpl: WebSocket,
  });
  const received: Array<Record<string, any>> = [];
  const errors: unknown[] = [];
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) errors.push(...value.errors);
        if (value.data) received.push(value.data as Record<string, any>);
      },
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  return {
    received,
    errors,
    async close() {
      dispose();
      await client.dispose();
    },
  };
}

/** A graphql-ws subscription that must be refused: its error names `code`, and no data arrives. */
export async function expectSubscriptionRefused(
  wsUrl: string,
  authorization: string,
  query: string,
  variables: Record<string, unknown>,
  code: string,
): Promise<void> {
  const stream = subscribeOverWebSocket(wsUrl, authorization, query, variables);
  try {
    await eventually(
      async () => stream.errors.length,
      (n) => n > 0,
    );
    expect(JSON.stringify(stream.errors)).toContain(code);
    expect(stream.received).toEqual([]);
  } finally {
    await stream.close();
  }
}
