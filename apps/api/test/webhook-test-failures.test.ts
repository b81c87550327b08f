import type { UserId } from '@switchboard/core';
import { startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, factories, gql, startTestServer, type TestServer } from './harness.ts';

/** The Webhook test tool's failure counting and its subscriptions' updates, over its README flow. */
describe('Webhook test subscriptions: failure_count, is_active and updates', () => {
  let server: TestServer;
  let failing: TestReceiver;
  let watcher: TestReceiver;
  let registration: string;
  let trigger: string;

  const post = async (path: string, body: unknown, authorization: string) => {
    const response = await fetch(`${server.url}/webhooks/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const account = async (userId: string) => {
    const made = await post('account', { user_email: `${userId}@email.bar`, user_id: userId }, registration);
    expect(made.status).toBe(200);
    return `Bearer ${made.body as string}`;
  };
  /** Polls the subscribe route's report of the existing subscription until `done` holds. */
  const waitForReport = async (access: string, event: string, url: string, done: (report: any) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const again = await post('subscribe', { event, url }, access);
      if (done(again.body) || Date.now() > deadline) return again.body;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    failing = await startReceiver(() => ({ status: 500, body: 'broken' }));
    watcher = await startReceiver();
    const make = factories(server.core);
    registration = `Bearer ${(await (await make.user({ role: 'admin' })).token(['admin', 'tokens:write'])).secret}`;
    trigger = `Bearer ${(await (await make.user()).token(['events:publish'])).secret}`;
    const admin = {
      user: { id: '' as UserId, username: ADMIN.username, role: 'admin' as const },
      via: 'system' as const,
      scopes: ['admin' as const],
    };
    for (const name of ['relation_added', 'relation_deleted']) {
      const created = await server.core.eventTypes.create(admin, { name });
      if (!created.ok) throw new Error(created.error.message);
    }
  });
  afterAll(async () => {
    await failing.close();
    await watcher.close();
    await server.close();
  });

  it('seed 002: a Webhook test subscription is set inactive once its failed attempts pass the maximum', async () => {
    const access = await account('failing-subscriber');
    // The account also watches for subscription.disabled, through a subscription of its own.
    const watch = await gql(
      server,
      `mutation($input: SubscriptionInput!) { createSubscription(input: $input) { __typename } }`,
      {
        authorization: access,
        variables: { input: { name: 'watch', url: `${watcher.url}/disabled`, eventTypes: ['subscription.disabled'] } },
      },
    );
    expect(watch.body.data?.createSubscription.__typename).toBe('CreateSubscriptionSuccess');

    const url = `${failing.url}/callback`;
    expect(await post('subscribe', { event: 'relation_added', url }, access)).toEqual({ status: 200, body: 200 });
    const fresh = await post('subscribe', { event: 'relation_added', url }, access);
    expect(fresh.body).toEqual({ warning: 'subscription already exists', failure_count: 0, is_active: true });

    // Five failed attempts (one per event, each answered 500): the maximum, not past it.
    for (let i = 1; i <= 5; i++) {
      const triggered = await post('trigger', { event: 'relation_added', payload: { bibcode: `b${i}` } }, trigger);
      expect(triggered).toEqual({ status: 200, body: 200 });
    }
    await failing.waitFor(5, 20_000);
    const atMaximum = await waitForReport(access, 'relation_added', url, (r) => r.failure_count >= 5);
    expect(atMaximum).toEqual({ warning: 'subscription already exists', failure_count: 5, is_active: true });

    // The sixth failed attempt passes it: the subscription is set inactive, with the reason.
    await post('trigger', { event: 'relation_added', payload: { bibcode: 'b6' } }, trigger);
    const inactive = await waitForReport(access, 'relation_added', url, (r) => r.is_active === false);
    expect(inactive).toEqual({ warning: 'subscription already exists', failure_count: 6, is_active: false });

    const [notice] = await watcher.waitFor(1, 20_000);
    const sent = JSON.parse(notice?.body.toString() ?? '{}');
    expect(sent.type).toBe('subscription.disabled');
    expect(sent.data.url).toBe(url);
    expect(sent.data.reason).toBe('6 failed attempts, more than the maximum of 5');

    const listed = await gql(
      server,
      '{ subscriptions { url enabled disabledReason failedAttempts maxFailedAttempts bodyFormat } }',
      { authorization: access },
    );
    expect(listed.body.data?.subscriptions).toContainEqual({
      url,
      enabled: false,
      disabledReason: '6 failed attempts, more than the maximum of 5',
      failedAttempts: 6,
      maxFailedAttempts: 5,
      bodyFormat: 'WEBHOOK_TEST',
    });
  });

  it('seed 002: updating a Webhook test subscription without its body format or disable rule keeps them', async () => {
    const access = await account('updating-subscriber');
    const url = `${watcher.url}/updated`;
    expect(await post('subscribe', { event: 'relation_deleted', url }, access)).toEqual({ status: 200, body: 200 });
    const FIELDS = 'id name url eventTypes timeoutMs bodyFormat disableAfterFailures disableAfterMs maxFailedAttempts';
    const listed = await gql(server, `{ subscriptions { ${FIELDS} } }`, { authorization: access });
    const before = (listed.body.data?.subscriptions ?? [])[0];
    expect(before).toMatchObject({ bodyFormat: 'WEBHOOK_TEST', maxFailedAttempts: 5 });

    // Only what it names changes: here the timeout.
    const updated = await gql(
      server,
      `mutation($id: ID!, $input: SubscriptionInput!) {
        updateSubscription(id: $id, input: $input) {
          __typename ... on UpdateSubscriptionSuccess { subscription { ${FIELDS} } }
        }
      }`,
      {
        authorization: access,
        variables: {
          id: before.id,
          input: { name: before.name, url: before.url, eventTypes: before.eventTypes, timeoutMs: 5000 },
        },
      },
    );
    expect(updated.body.data?.updateSubscription.subscription).toEqual({ ...before, timeoutMs: 5000 });

    // Its subscriber still gets the tool's body.
    watcher.requests.length = 0;
    await post('trigger', { event: 'relation_deleted', payload: { bibcode: 'kept' } }, trigger);
    const [received] = await watcher.waitFor(1, 20_000);
    const body = JSON.parse(received?.body.toString() ?? '{}');
    expect(Object.keys(body).sort()).toEqual(['event', 'id', 'payload', 'time']);
    expect(body.payload).toEqual({ bibcode: 'kept' });
  });
});
