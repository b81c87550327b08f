import { createHmac } from 'node:crypto';
import { deliveries, deliveryAttempts, subscriptions } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  claimDeliveries,
  DEFAULT_SCHEDULE_MS,
  outboundKinds,
  type Principal,
  type SubscriptionDefinition,
  type SubscriptionId,
} from '../src/index.ts';
import { headersOf, type ReceivedRequest } from '../src/testing.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

describe('delivery worker', () => {
  let h: DeliveryHarness;
  let alice: Principal;
  let n = 0;
  /** Each test publishes a type of its own, so that earlier tests' subscriptions stay out of it. */
  let type = '';

  beforeAll(async () => {
    h = await startDeliveryHarness();
    alice = await h.user('alice');
  });
  afterAll(async () => {
    await h.close();
  });
  afterEach(async () => {
    // Leftover retries of one test must not reach the receiver in the next.
    await h.database.client.db.delete(subscriptions);
    await h.core.subscriptions.changed();
  });
  beforeEach(async () => {
    type = `test-${++n}.happened`;
    must(await h.core.eventTypes.create(h.admin, { name: type }));
    h.receiver.requests.length = 0;
    h.receiver.respondWith(() => ({ status: 200 }));
  });

  async function subscribe(definition: Partial<SubscriptionDefinition> = {}, owner = alice) {
    n++;
    return must(
      await h.core.subscriptions.create(owner, {
        name: `sub-${n}`,
        url: `${h.receiver.url}/hooks/${n}`,
        eventTypes: [type],
        ...definition,
      }),
    );
  }

  async function deliveryOf(subscriptionId: SubscriptionId) {
    const [row] = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscriptionId));
    if (!row) throw new Error('no delivery');
    return row;
  }

  it('signs the Standard Webhooks way: the standardwebhooks package verifies every attempt, and every retry keeps the webhook-id', async () => {
    h.clock.set(new Date()); // the package checks timestamps against the real clock
    const { subscription, secret } = await subscribe({ retryPolicy: { scheduleMs: [0, 1000, 2000] } });
    h.receiver.respondWith((_request, index) => ({ status: index < 2 ? 500 : 200 }));
    const published = must(await h.core.publisher.publish(alice, { type, payload: { id: 'in_1' } }));
    expect(published.deliveryCount).toBe(1);

    expect(await h.core.worker.runOnce()).toBe(1);
    h.clock.advance(1300);
    expect(await h.core.worker.runOnce()).toBe(1);
    h.clock.advance(2500);
    expect(await h.core.worker.runOnce()).toBe(1);

    expect(h.receiver.requests).toHaveLength(3);
    const verifier = new Webhook(secret);
    for (const request of h.receiver.requests) {
      expect(verifier.verify(request.body, headersOf(request))).toEqual({
        type,
        timestamp: published.event.createdAt.toISOString(),
        data: { id: 'in_1' },
      });
      expect(request.headers['content-type']).toBe('application/json');
    }
    const ids = new Set(h.receiver.requests.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^msg_[0-9a-f]{32}$/);
    const delivery = await deliveryOf(subscription.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 3, lastStatusCode: 200 });
    const attempts = await h.core.deliveries.attemptsOf([delivery.id]);
    expect(attempts.get(delivery.id)?.map((a) => [a.number, a.statusCode, a.succeeded])).toEqual([
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ]);
  });

  it("a subscription's new timeout and cap reach its deliveries not yet done: the next claim leases for the new timeout", async () => {
    const { subscription } = await subscribe({ timeoutMs: 4000, retryPolicy: { scheduleMs: [0, 60_000] } });
    h.receiver.respondWith(() => ({ status: 500 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'terms' } }));
    expect(await h.core.worker.runOnce()).toBe(1);
    h.receiver.respondWith(() => ({ status: 200 }));
    const first = await deliveryOf(subscription.id);
    expect(first).toMatchObject({ status: 'pending', timeoutMs: 4000, maxInFlight: null, lane: subscription.id });

    must(await h.core.subscriptions.update(alice, subscription.id, { timeoutMs: 9000, maxInFlight: 3 }));
    const changed = await deliveryOf(subscription.id);
    expect(changed).toMatchObject({ timeoutMs: 9000, maxInFlight: 3 });

    // The claim leases it for the new timeout.
    const at = h.clock.now();
    h.clock.advance(75_000); // the retry's 60 s and its jitter
    const [claimed] = await claimDeliveries(h.database.client.db, outboundKinds(h.database.client.db), {
      now: h.clock.now(),
      limit: 1,
      leaseMarginMs: 500,
    });
    expect(claimed?.request.timeoutMs).toBe(9000);
    expect(claimed?.maxInFlight).toBe(3);
    const leased = await deliveryOf(subscription.id);
    expect(leased.nextAttemptAt?.getTime()).toBe(at.getTime() + 75_000 + 9000 + 500);
  });

  it('follows the default schedule with jitter, on an injected clock, then fails the delivery after the last attempt', async () => {
    h.clock.set(new Date('2026-06-01T12:00:00.000Z'));
    const { subscription } = await subscribe({ disableAfterFailures: null, disableAfterMs: null });
    h.receiver.respondWith(() => ({ status: 500, body: 'broken' }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'in_2' } }));
    const start = h.clock.now().getTime();
    for (let attempt = 1; attempt <= DEFAULT_SCHEDULE_MS.length; attempt++) {
      expect(await h.core.worker.runOnce()).toBe(1);
      const delivery = await deliveryOf(subscription.id);
      expect(delivery.attempts).toBe(attempt);
      if (attempt === DEFAULT_SCHEDULE_MS.length) {
        expect(delivery.status).toBe('failed');
        expect(delivery.lastError).toBe('HTTP 500 (no attempts left)');
        break;
      }
      expect(delivery.status).toBe('pending');
      const planned = DEFAULT_SCHEDULE_MS[attempt] as number;
      const delay = (delivery.nextAttemptAt as Date).getTime() - h.clock.now().getTime();
      expect(delay).toBeGreaterThanOrEqual(planned * 0.8 - 1);
      expect(delay).toBeLessThanOrEqual(planned * 1.2 + 1);
      // Not a moment early: nothing is claimed before the time comes.
      h.clock.advance(delay - 1);
      expect(await h.core.worker.runOnce()).toBe(0);
      h.clock.advance(1);
    }
    // Eight attempts over about 27.5 hours.
    const hours = (h.clock.now().getTime() - start) / 3_600_000;
    expect(hours).toBeGreaterThan(27.6 * 0.8);
    expect(hours).toBeLessThan(27.6 * 1.2);
    expect(h.receiver.requests).toHaveLength(8);
    const attempts = (await h.core.deliveries.attemptsOf([(await deliveryOf(subscription.id)).id]))
      .values()
      .next().value;
    expect(attempts?.[0]?.responseBody?.toString()).toBe('broken');
  });

  it('honours Retry-After on 429 and 503, and stops at max attempts', async () => {
    const { subscription } = await subscribe({ retryPolicy: { maxAttempts: 2 } });
    h.receiver.respondWith(() => ({ status: 429, headers: { 'retry-after': '120' } }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'in_3' } }));
    await h.core.worker.runOnce();
    const waiting = await deliveryOf(subscription.id);
    expect((waiting.nextAttemptAt as Date).getTime() - h.clock.now().getTime()).toBe(120_000);
    h.receiver.respondWith(() => ({ status: 503, headers: { 'retry-after': '3600' } }));
    h.clock.advance(120_000);
    expect(await h.core.worker.runOnce()).toBe(1);
    const failed = await deliveryOf(subscription.id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 2, lastStatusCode: 503 });
  });

  it('a 410 Gone disables the subscription at once and publishes subscription.disabled to its owner', async () => {
    const watcher = await subscribe({ eventTypes: ['subscription.disabled'], url: `${h.receiver.url}/watch` });
    const { subscription } = await subscribe();
    h.receiver.respondWith((request) => ({ status: request.path === '/watch' ? 200 : 410 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'in_4' } }));
    await h.drain();
    const gone = must(await h.core.subscriptions.get(alice, subscription.id));
    expect(gone).toMatchObject({ enabled: false, disabledReason: 'the endpoint answered 410 Gone' });
    expect(await deliveryOf(subscription.id)).toMatchObject({ status: 'failed', attempts: 1 });
    const notice = h.receiver.requests.find((r) => r.path === '/watch');
    expect(JSON.parse(notice?.body.toString() ?? '{}')).toMatchObject({
      type: 'subscription.disabled',
      data: { subscriptionId: subscription.id, reason: 'the endpoint answered 410 Gone', url: subscription.url },
    });
    expect((await deliveryOf(watcher.subscription.id)).status).toBe('succeeded');
    must(await h.core.subscriptions.delete(alice, watcher.subscription.id));
  });

  it('subscription.disabled goes to the owner and admins only, not to other members', async () => {
    const bob = await h.user('bob');
    const bobWatch = await subscribe({ eventTypes: ['subscription.*'], url: `${h.receiver.url}/bob` }, bob);
    const adminWatch = await subscribe({ eventTypes: ['*'], url: `${h.receiver.url}/admin` }, h.admin);
    const { subscription } = await subscribe();
    h.receiver.respondWith((request) => ({ status: request.path.startsWith('/hooks') ? 410 : 200 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'in_5' } }));
    await h.drain();
    expect(must(await h.core.subscriptions.get(alice, subscription.id)).enabled).toBe(false);
    const paths = h.receiver.requests.map((r) => r.path);
    expect(paths.filter((p) => p === '/admin')).toHaveLength(2); // the invoice, then the notice
    expect(paths).not.toContain('/bob');
    must(await h.core.subscriptions.delete(bob, bobWatch.subscription.id));
    must(await h.core.subscriptions.delete(h.admin, adminWatch.subscription.id));
  });

  it('disables a subscription after N deliveries in a row failed, and fails its pending deliveries with the reason', async () => {
    const { subscription } = await subscribe({ disableAfterFailures: 2, retryPolicy: { maxAttempts: 1 } });
    h.receiver.respondWith(() => ({ status: 500 }));
    for (const id of ['a', 'b', 'c']) must(await h.core.publisher.publish(alice, { type, payload: { id } }));
    // Two at a time: the third is still pending when the second failure disables the subscription.
    await h.core.worker.runOnce(1);
    await h.core.worker.runOnce(1);
    const disabled = must(await h.core.subscriptions.get(alice, subscription.id));
    expect(disabled).toMatchObject({ enabled: false, disabledReason: '2 deliveries in a row failed' });
    const rows = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscription.id));
    expect(rows.map((r) => r.status).sort()).toEqual(['failed', 'failed', 'failed']);
    expect(rows.filter((r) => r.attempts === 0)[0]?.lastError).toBe(
      'not sent: the subscription was disabled (2 deliveries in a row failed)',
    );
  });

  it('disables a subscription that has had no success for its time limit', async () => {
    const { subscription } = await subscribe({ disableAfterMs: 86_400_000, disableAfterFailures: null });
    h.receiver.respondWith(() => ({ status: 502 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'old' } }));
    await h.core.worker.runOnce();
    expect(must(await h.core.subscriptions.get(alice, subscription.id)).enabled).toBe(true);
    h.clock.advance(25 * 3_600_000);
    await h.drain();
    const disabled = must(await h.core.subscriptions.get(alice, subscription.id));
    expect(disabled.enabled).toBe(false);
    expect(disabled.disabledReason).toMatch(/^no successful delivery since \d{4}-\d\d-\d\dT/);
  });

  it('recovers the failed deliveries of a subscription since a time, once it is enabled again', async () => {
    const { subscription } = await subscribe({ retryPolicy: { maxAttempts: 1 }, disableAfterFailures: null });
    h.receiver.respondWith(() => ({ status: 500 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'before' } }));
    await h.drain();
    h.clock.advance(60_000);
    const since = h.clock.now();
    for (const id of ['after-1', 'after-2']) must(await h.core.publisher.publish(alice, { type, payload: { id } }));
    await h.drain();
    must(await h.core.subscriptions.setEnabled(alice, subscription.id, false, 'maintenance'));
    const refused = await h.core.deliveries.recover(alice, subscription.id, since);
    expect(!refused.ok && refused.error.code).toBe('CONFLICT');
    must(await h.core.subscriptions.setEnabled(alice, subscription.id, true));

    h.receiver.requests.length = 0;
    h.receiver.respondWith(() => ({ status: 204 }));
    expect(must(await h.core.deliveries.recover(alice, subscription.id, since))).toEqual({ count: 2 });
    expect(await h.drain()).toBe(2);
    expect(h.receiver.requests.map((r) => JSON.parse(r.body.toString()).data.id).sort()).toEqual([
      'after-1',
      'after-2',
    ]);
    const rows = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscription.id));
    expect(rows.map((r) => [r.status, r.attempts]).sort()).toEqual([
      ['failed', 1],
      ['succeeded', 2],
      ['succeeded', 2],
    ]);
    // Another user cannot recover it, nor learn that it exists.
    const bob = await h.user('bob-2');
    const recovered = await h.core.deliveries.recover(bob, subscription.id, since);
    expect(!recovered.ok && recovered.error.code).toBe('NOT_FOUND');
  });

  it('retries one delivery now, keeping its webhook-id', async () => {
    const { subscription } = await subscribe({ retryPolicy: { maxAttempts: 1 } });
    h.receiver.respondWith(() => ({ status: 500 }));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'once' } }));
    await h.drain();
    const failed = await deliveryOf(subscription.id);
    expect(failed.status).toBe('failed');
    h.receiver.respondWith(() => ({ status: 200 }));
    expect(must(await h.core.deliveries.retry(alice, failed.id)).status).toBe('pending');
    await h.drain();
    expect((await deliveryOf(subscription.id)).status).toBe('succeeded');
    expect(new Set(h.receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('takes over a claim whose lease ran out (its worker died) and records the lost attempt', async () => {
    const { subscription } = await subscribe({ timeoutMs: 1000 });
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'lost' } }));
    // A worker claims it and dies: nothing is sent, nothing recorded.
    const claimed = await claimDeliveries(h.database.client.db, outboundKinds(h.database.client.db), {
      now: h.clock.now(),
      limit: 10,
      leaseMarginMs: 5000,
    });
    expect(claimed).toHaveLength(1);
    expect(await h.core.worker.runOnce()).toBe(0);
    h.clock.advance(6001);
    expect(await h.core.worker.runOnce()).toBe(1);
    const delivery = await deliveryOf(subscription.id);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
    const attempts = await h.database.client.db
      .select()
      .from(deliveryAttempts)
      .where(eq(deliveryAttempts.deliveryId, delivery.id));
    expect(attempts.map((a) => [a.number, a.succeeded])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(attempts[0]?.error).toMatch(/worker making this attempt stopped/);
    expect(h.receiver.requests[0]?.headers['webhook-id']).toBe(claimed[0]?.webhookId);
  });

  it("sends the Webhook test tool's body to a subscription that asks for it, the same signed bytes on every attempt and when blocking", async () => {
    h.clock.set(new Date());
    const tool = await subscribe({ bodyFormat: 'webhook-test', retryPolicy: { scheduleMs: [0, 1000] } });
    const standard = await subscribe();
    const blocking = await subscribe({ bodyFormat: 'webhook-test', mode: 'blocking' });
    const path = (s: typeof tool) => new URL(s.subscription.url).pathname;
    // The blocking subscription is sent first, while the publisher waits; the tool's async one fails once.
    h.receiver.respondWith((request) => ({
      status:
        request.path === path(tool) && h.receiver.requests.filter((r) => r.path === path(tool)).length === 1
          ? 500
          : 200,
    }));
    const published = must(await h.core.publisher.publish(alice, { type, payload: { bibcode: 'x' }, wait: true }));
    // Both async deliveries are claimed in one batch: each is shaped by its own subscription.
    expect(await h.core.worker.runOnce()).toBe(2);
    h.clock.advance(1300);
    expect(await h.core.worker.runOnce()).toBe(1);

    const toolBody = JSON.stringify({
      id: published.event.id,
      event: type,
      time: String(Math.floor(published.event.createdAt.getTime() / 1000)),
      payload: { bibcode: 'x' },
    });
    const received = (s: typeof tool) => h.receiver.requests.filter((r) => r.path === path(s));
    expect(received(blocking).map((r) => r.body.toString())).toEqual([toolBody]);
    expect(received(tool).map((r) => r.body.toString())).toEqual([toolBody, toolBody]);
    expect(received(standard).map((r) => JSON.parse(r.body.toString()))).toEqual([
      { type, timestamp: published.event.createdAt.toISOString(), data: { bibcode: 'x' } },
    ]);
    for (const s of [tool, standard, blocking]) {
      for (const request of received(s)) new Webhook(s.secret).verify(request.body, headersOf(request));
    }
  });

  it('signs with a plain HMAC header as servo-webhooks does, with custom headers', async () => {
    const { secret } = await subscribe({
      signing: { scheme: 'hmac', header: 'X-Servo-Signature', algorithm: 'sha1', encoding: 'hex' },
      headers: { 'x-some-header': 'some value' },
    });
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'servo' } }));
    await h.drain();
    const [request] = h.receiver.requests;
    expect(request?.headers['x-servo-signature']).toBe(
      createHmac('sha1', secret)
        .update(request?.body ?? '')
        .digest('hex'),
    );
    expect(request?.headers['x-some-header']).toBe('some value');
  });

  it('after a secret rotation, signs with the new and the old secret until the grace period ends', async () => {
    h.clock.set(new Date());
    const { subscription, secret: old } = await subscribe();
    const { secret: rotated } = must(await h.core.subscriptions.rotateSecret(alice, subscription.id, 60));
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'rotating' } }));
    await h.drain();
    const sent = (id: string): ReceivedRequest => {
      const request = h.receiver.requests.find((r) => JSON.parse(r.body.toString()).data.id === id);
      if (!request) throw new Error(`the delivery of "${id}" was not received`);
      return request;
    };
    const accepts = (secret: string, request: ReceivedRequest) => {
      try {
        new Webhook(secret).verify(request.body, headersOf(request));
        return true;
      } catch {
        return false;
      }
    };
    // During the grace period receivers that still hold the old secret keep accepting deliveries.
    const during = sent('rotating');
    expect(during.headers['webhook-signature']?.toString().split(' ')).toHaveLength(2);
    expect(accepts(old, during)).toBe(true);
    expect(accepts(rotated, during)).toBe(true);
    h.clock.advance(61_000);
    must(await h.core.publisher.publish(alice, { type, payload: { id: 'rotated' } }));
    await h.drain();
    // Past it, only the new secret verifies: the old one no longer signs anything.
    const after = sent('rotated');
    expect(after.headers['webhook-signature']?.toString().split(' ')).toHaveLength(1);
    expect(accepts(rotated, after)).toBe(true);
    expect(accepts(old, after)).toBe(false);
  });

  it('spaces out deliveries to a rate-limited subscription', async () => {
    const { subscription } = await subscribe({ rateLimitPerSecond: 2 });
    for (let i = 0; i < 4; i++) must(await h.core.publisher.publish(alice, { type, payload: { i } }));
    expect(await h.core.worker.runOnce()).toBe(4);
    expect(h.receiver.requests).toHaveLength(1);
    h.clock.advance(500);
    await h.core.worker.runOnce();
    expect(h.receiver.requests).toHaveLength(2);
    h.clock.advance(1000);
    await h.drain();
    expect(h.receiver.requests).toHaveLength(4);
    const rows = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscription.id));
    expect(rows.map((r) => [r.status, r.attempts])).toEqual(Array(4).fill(['succeeded', 1]));
  });
});
