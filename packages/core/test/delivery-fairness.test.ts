import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Principal } from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

/** A receiver that never answers: it holds every request open until `release`. */
async function startSilentReceiver() {
  const held: ServerResponse[] = [];
  let maxOpen = 0;
  let total = 0;
  const server = createServer((req, res) => {
    req.resume();
    total++;
    held.push(res);
    res.on('close', () => held.splice(held.indexOf(res), 1));
    maxOpen = Math.max(maxOpen, held.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get open() {
      return held.length;
    },
    get maxOpen() {
      return maxOpen;
    },
    get total() {
      return total;
    },
    async release() {
      for (const res of [...held]) res.writeHead(200).end();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Alice's subscription goes to `slowUrl` (slow.thing), bob's to the harness's receiver (quick.thing). */
async function slowAndQuick(
  h: DeliveryHarness,
  slowUrl: string,
  quick: { retryPolicy?: { scheduleMs: number[] } } = {},
) {
  const alice: Principal = await h.user('alice');
  const bob: Principal = await h.user('bob');
  must(await h.core.eventTypes.create(h.admin, { name: 'slow.thing' }));
  must(await h.core.eventTypes.create(h.admin, { name: 'quick.thing' }));
  must(
    await h.core.subscriptions.create(alice, {
      name: 'never-answers',
      url: `${slowUrl}/hook`,
      eventTypes: ['slow.thing'],
      timeoutMs: 60_000,
    }),
  );
  must(
    await h.core.subscriptions.create(bob, {
      name: 'answers',
      url: `${h.receiver.url}/b`,
      eventTypes: ['quick.thing'],
      ...quick,
    }),
  );
  return { alice, bob };
}

describe('fair delivery across subscriptions', () => {
  let h: DeliveryHarness | undefined;
  let silent: Awaited<ReturnType<typeof startSilentReceiver>> | undefined;

  afterEach(async () => {
    await silent?.release();
    await h?.close();
    h = undefined;
    silent = undefined;
  });

  /**
   * `adopted`: the worker runs while the events are published, so publishes hand deliveries straight
   * to it; otherwise the backlog is written first and the worker claims it.
   */
  async function starveAttempt(options: { adopted: boolean; maxInFlight?: number }) {
    h = await startDeliveryHarness({ delivery: { worker: { concurrency: 16 } } });
    silent = await startSilentReceiver();
    const alice: Principal = await h.user('alice');
    const bob: Principal = await h.user('bob');
    must(await h.core.eventTypes.create(h.admin, { name: 'slow.thing' }));
    must(await h.core.eventTypes.create(h.admin, { name: 'quick.thing' }));
    must(
      await h.core.subscriptions.create(alice, {
        name: 'never-answers',
        url: `${silent.url}/hook`,
        eventTypes: ['slow.thing'],
        timeoutMs: 60_000,
        ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
      }),
    );
    must(
      await h.core.subscriptions.create(bob, {
        name: 'answers',
        url: `${h.receiver.url}/b`,
        eventTypes: ['quick.thing'],
      }),
    );
    if (options.adopted) await h.core.start({ worker: true });
    for (let i = 0; i < 60; i++) must(await h.core.publisher.publish(alice, { type: 'slow.thing', payload: { i } }));
    must(await h.core.publisher.publish(bob, { type: 'quick.thing', payload: {} }));
    if (!options.adopted) await h.core.start({ worker: true });
    await h.receiver.waitFor(1, 15_000).catch(() => {
      throw new Error(`bob's delivery was not attempted while alice's receiver held ${silent?.open} requests`);
    });
    return silent;
  }

  it('finding 8: a subscription whose receiver never answers holds at most its default share of the worker, and another user is still delivered', async () => {
    const receiver = await starveAttempt({ adopted: false });
    // The default cap is a quarter of the worker's 16 slots.
    await waitUntil('the silent receiver to hold its 4 requests', () => receiver.open === 4);
    expect(receiver.open).toBe(4);
    expect(receiver.maxOpen).toBe(4);
  });

  it('finding 8: deliveries handed straight to a running worker by publishes keep to the cap too', async () => {
    const receiver = await starveAttempt({ adopted: true });
    await waitUntil('the silent receiver to hold its 4 requests', () => receiver.open === 4);
    expect(receiver.maxOpen).toBe(4);
  });

  it("finding 8: a subscription's own maxInFlight caps its requests in flight", async () => {
    const receiver = await starveAttempt({ adopted: false, maxInFlight: 2 });
    await waitUntil('the silent receiver to hold its 2 requests', () => receiver.open === 2);
    // Another claim round cannot add to it.
    h?.core.worker.wake();
    await h?.receiver.waitFor(1);
    expect(receiver.maxOpen).toBe(2);
    expect(receiver.total).toBe(2);
  });

  it("finding 8: another user's delivery is attempted even when the slow subscription's due backlog is larger than the claim window", async () => {
    // 4 slots and 4 claimed ahead: a claim asks for 8 at most and looks at twice that, while the
    // silent subscription has 40 due ahead of bob's (a quarter of the slots is 1 in flight).
    h = await startDeliveryHarness({ delivery: { worker: { concurrency: 4, prefetch: 4 } } });
    silent = await startSilentReceiver();
    const { alice, bob } = await slowAndQuick(h, silent.url);
    for (let i = 0; i < 40; i++) must(await h.core.publisher.publish(alice, { type: 'slow.thing', payload: { i } }));
    h.clock.advance(1);
    must(await h.core.publisher.publish(bob, { type: 'quick.thing', payload: {} }));
    await h.core.start({ worker: true });
    await h.receiver.waitFor(1, 15_000);
    expect(silent.maxOpen).toBe(1);
  });

  it("finding 8: another subscription's retry falling due while a lane is full is attempted without waiting for the idle poll", async () => {
    h = await startDeliveryHarness({ delivery: { worker: { concurrency: 4, prefetch: 4, idlePollMs: 60_000 } } });
    silent = await startSilentReceiver();
    const { alice, bob } = await slowAndQuick(h, silent.url, { retryPolicy: { scheduleMs: [0, 200] } });
    h.receiver.respondWith((_, index) => ({ status: index === 0 ? 500 : 200 }));
    must(await h.core.publisher.publish(bob, { type: 'quick.thing', payload: {} }));
    // Bob's first attempt fails; his retry is due 200 ms later (±20%) on the test's clock.
    expect(await h.core.worker.runOnce()).toBe(1);
    // Alice's lane fills: 1 in flight and 2 claimed ahead.
    for (let i = 0; i < 3; i++) must(await h.core.publisher.publish(alice, { type: 'slow.thing', payload: { i } }));
    await h.core.start({ worker: true });
    await waitUntil('the silent receiver to hold its request', () => silent?.open === 1);
    h.clock.advance(1000);
    await h.receiver.waitFor(2, 15_000);
  });

  it('finding 8: maxInFlight is stored, shown, and refused out of range as a field problem', async () => {
    h = await startDeliveryHarness();
    const alice = await h.user('alice');
    const base = { url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] };
    const created = must(await h.core.subscriptions.create(alice, { ...base, name: 'capped', maxInFlight: 8 }));
    expect(created.subscription.maxInFlight).toBe(8);
    const plain = must(await h.core.subscriptions.create(alice, { ...base, name: 'plain' }));
    expect(plain.subscription.maxInFlight).toBeNull();
    const updated = must(
      await h.core.subscriptions.update(alice, created.subscription.id, { ...base, name: 'capped', maxInFlight: 3 }),
    );
    expect(updated.maxInFlight).toBe(3);
    for (const bad of [0, -1, 1.5, 1001]) {
      const refused = await h.core.subscriptions.create(alice, { ...base, name: `bad-${bad}`, maxInFlight: bad });
      expect(refused.ok).toBe(false);
      if (refused.ok) continue;
      expect(refused.error.code).toBe('INVALID');
      expect(refused.error.fields?.map((f) => f.path)).toEqual(['maxInFlight']);
    }
  });
});
