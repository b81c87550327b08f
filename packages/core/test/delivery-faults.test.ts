import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliveries, deliveryAttempts, subscriptions } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDeliveries, type DeliveryId, outboundKinds, type Principal, type SubscriptionId } from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';
import { within } from './within.ts';

/** What goes wrong around deliveries: rows deleted mid-flight, slow receivers, dead workers. */
describe('delivery faults', () => {
  let h: DeliveryHarness;
  let alice: Principal;
  let n = 0;

  beforeAll(async () => {
    h = await startDeliveryHarness();
    alice = await h.user('alice');
    must(await h.core.eventTypes.create(h.admin, { name: 'fault.raised' }));
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.receiver.requests.length = 0;
    h.receiver.respondWith(() => ({ status: 200 }));
  });
  afterEach(async () => {
    await h.database.client.db.delete(subscriptions);
    await h.core.subscriptions.changed();
  });

  const subscribe = async (path: string, extra: Record<string, unknown> = {}) =>
    must(
      await h.core.subscriptions.create(alice, {
        name: `fault-${++n}`,
        url: `${h.receiver.url}${path}`,
        eventTypes: ['fault.raised'],
        ...extra,
      }),
    ).subscription;

  const deliveryOf = async (subscriptionId: SubscriptionId) => {
    const [row] = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscriptionId));
    return row;
  };

  it('a delivery deleted while its request was out does not cost the others in its batch their outcome', async () => {
    const doomed = await subscribe('/doomed');
    const kept = await subscribe('/kept');
    h.receiver.respondWith(() => ({ status: 200, delayMs: 300 }));
    must(await h.core.publisher.publish(alice, { type: 'fault.raised', payload: {} }));
    const sending = h.core.worker.runOnce();
    await h.receiver.waitFor(2);
    must(await h.core.subscriptions.delete(alice, doomed.id));
    expect(await sending).toBe(2);
    expect(await deliveryOf(kept.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    const [attempt] = await h.database.client.db
      .select()
      .from(deliveryAttempts)
      .where(eq(deliveryAttempts.deliveryId, (await deliveryOf(kept.id))?.id ?? (0 as DeliveryId)));
    expect(attempt).toMatchObject({ number: 1, statusCode: 200, succeeded: true });
  });

  it('an attempt ends at its timeout, however slowly the receiver trickles its answer: it hangs up on a body that never comes and records the timeout', async () => {
    // A receiver of its own: it sends the status line and headers at once and holds the body back
    // for as long as the connection stays open, so only the sender's own deadline can end this.
    let hungUp: (bodySent: boolean) => void = () => {};
    const closed = new Promise<boolean>((resolve) => {
      hungUp = resolve;
    });
    const trickler = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.flushHeaders();
        response.on('close', () => hungUp(response.writableEnded));
      });
    });
    await new Promise<void>((resolve) => trickler.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = trickler.address() as AddressInfo;
      const slow = await subscribe('/trickle', {
        url: `http://127.0.0.1:${port}/trickle`,
        timeoutMs: 1000,
        retryPolicy: { maxAttempts: 1 },
      });
      must(await h.core.publisher.publish(alice, { type: 'fault.raised', payload: {} }));
      await within(20_000, 'the attempt to end while the receiver held back its body', h.core.worker.runOnce());
      expect(await within(20_000, 'the sender to hang up', closed), 'the body was sent').toBe(false);
      const delivery = await deliveryOf(slow.id);
      expect(delivery).toMatchObject({ status: 'failed', lastError: 'timed out after 1000 ms (no attempts left)' });
      const [attempt] = await h.database.client.db
        .select()
        .from(deliveryAttempts)
        .where(eq(deliveryAttempts.deliveryId, delivery?.id ?? (0 as DeliveryId)));
      // Ended by the deadline, not by the 200 whose headers had arrived in time.
      expect(attempt).toMatchObject({
        succeeded: false,
        statusCode: null,
        error: 'timed out after 1000 ms (no attempts left)',
      });
      // Nor before the deadline (a little slack for the timers' granularity).
      expect(attempt?.durationMs).toBeGreaterThanOrEqual(950);
    } finally {
      trickler.closeAllConnections();
      await new Promise((resolve) => trickler.close(resolve));
    }
  });

  it('a delivery taken over after its last allowed attempt is failed, not sent again', async () => {
    const once = await subscribe('/once', { timeoutMs: 1000, retryPolicy: { maxAttempts: 1 } });
    must(await h.core.publisher.publish(alice, { type: 'fault.raised', payload: {} }));
    // A worker claims it and dies with its only attempt's outcome unknown.
    expect(
      await claimDeliveries(h.database.client.db, outboundKinds(h.database.client.db), {
        now: h.clock.now(),
        limit: 10,
        leaseMarginMs: 1000,
      }),
    ).toHaveLength(1);
    h.clock.advance(2001);
    expect(await h.core.worker.runOnce()).toBe(1);
    expect(h.receiver.requests).toHaveLength(0);
    const delivery = await deliveryOf(once.id);
    expect(delivery).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'no attempts left: the last attempt stopped before it had an outcome',
    });
  });

  it("a job's callback is leased for the callback's timeout, not the job's", async () => {
    const job = must(
      await h.core.jobs.create(alice, {
        url: `${h.receiver.url}/job`,
        timeoutMs: 100,
        callbackUrl: `${h.receiver.url}/cb`,
      }),
    );
    await h.core.worker.runOnce(); // the request; its outcome queues the callback
    const now = h.clock.now();
    const [callback] = await claimDeliveries(h.database.client.db, outboundKinds(h.database.client.db), {
      now,
      limit: 10,
      leaseMarginMs: 10_000,
    });
    expect(callback?.kind).toBe('callback');
    expect((callback?.context as { jobId: string } | undefined)?.jobId).toBe(job.id);
    const [row] = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.id, callback?.deliveryId ?? (0 as DeliveryId)));
    expect((row?.nextAttemptAt?.getTime() ?? 0) - now.getTime()).toBe(15_000 + 10_000);
  });

  it("publishing to one subscription needs it to be the publisher's own (or an admin's)", async () => {
    const theirs = await subscribe('/theirs');
    const bob = await h.user('bob');
    const refused = await h.core.publisher.publishTo(bob, theirs.id, { type: 'fault.raised', payload: {} });
    expect(!refused.ok && refused.error.code).toBe('NOT_FOUND');
    expect((await h.core.publisher.publishTo(alice, theirs.id, { type: 'fault.raised', payload: {} })).ok).toBe(true);
  });

  it('nobody but Switchboard publishes subscription.disabled', async () => {
    const refused = await h.core.publisher.publish(alice, { type: 'subscription.disabled', payload: {} });
    expect(!refused.ok && refused.error).toMatchObject({
      code: 'FORBIDDEN',
      message: '"subscription.disabled" events are published by Switchboard itself',
    });
    const admin = await h.core.publisher.publish(h.admin, { type: 'subscription.disabled', payload: {} });
    expect(!admin.ok && admin.error.code).toBe('FORBIDDEN');
  });
});
