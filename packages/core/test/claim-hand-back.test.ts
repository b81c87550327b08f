import { deliveries, deliveryAttempts } from '@switchboard/db';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptOutcome, Principal } from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';
import { within } from './within.ts';

describe('a claim that waits in the worker too long', () => {
  let h: DeliveryHarness;
  let alice: Principal;
  const outcomes: AttemptOutcome[] = [];

  beforeAll(async () => {
    h = await startDeliveryHarness({ delivery: { observe: (outcome) => outcomes.push(outcome) } });
    alice = await h.user('alice');
    must(await h.core.eventTypes.create(h.admin, { name: 'slow.receiver' }));
  });
  afterAll(async () => {
    await h.close();
  });

  it('is handed back untried, its attempt not counted, and sent on a later claim: each delivery is sent once', async () => {
    // One request at a time, and a lane of one in flight with one claimed ahead: the second
    // delivery waits in the worker while the first takes a second to answer, longer than half the
    // lease margin (200 ms), so it is handed back rather than sent on a claim that may be running out.
    const worker = h.core.createWorker({ concurrency: 1, prefetch: 2, defaultMaxInFlight: 1, leaseMarginMs: 400 });
    h.receiver.respondWith(() => ({ status: 200, delayMs: 1000 }));
    const subscription = must(
      await h.core.subscriptions.create(alice, {
        name: 'slow',
        url: `${h.receiver.url}/slow`,
        eventTypes: ['slow.receiver'],
      }),
    ).subscription;
    for (const n of [1, 2]) must(await h.core.publisher.publish(alice, { type: 'slow.receiver', payload: { n } }));
    const rows = await h.database.client.db
      .select({ id: deliveries.id })
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscription.id));
    expect(rows).toHaveLength(2);
    const ids = rows.map((row) => row.id);

    await worker.start();
    // Both claimed at once (the lane's one plus one ahead); the second is handed back when the
    // first answers, then claimed again and sent.
    await within(20_000, 'both deliveries to be sent', h.receiver.waitFor(2, 20_000));
    await within(
      20_000,
      'both deliveries to be recorded as succeeded',
      (async () => {
        for (;;) {
          const done = await h.database.client.db
            .select({ status: deliveries.status })
            .from(deliveries)
            .where(inArray(deliveries.id, ids));
          if (done.every((row) => row.status === 'succeeded')) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
    );
    await worker.stop();

    const released = outcomes.filter((o) => o.disposition === 'released');
    expect(released, 'one claim handed back untried').toHaveLength(1);
    expect(released[0]).toMatchObject({ status: 'pending', succeeded: false, response: null });
    const attempted = outcomes.filter((o) => o.disposition === 'attempted');
    expect(attempted.map((o) => o.deliveryId).sort()).toEqual([...ids].sort());

    // Handing back did not count as an attempt: each delivery made one, recorded once.
    const stored = await h.database.client.db
      .select({ id: deliveries.id, attempts: deliveries.attempts, status: deliveries.status })
      .from(deliveries)
      .where(inArray(deliveries.id, ids));
    expect(stored.map(({ attempts, status }) => ({ attempts, status }))).toEqual([
      { attempts: 1, status: 'succeeded' },
      { attempts: 1, status: 'succeeded' },
    ]);
    const attempts = await h.database.client.db
      .select({ deliveryId: deliveryAttempts.deliveryId, succeeded: deliveryAttempts.succeeded })
      .from(deliveryAttempts)
      .where(inArray(deliveryAttempts.deliveryId, ids));
    expect(attempts).toHaveLength(2);
    expect(attempts.every((a) => a.succeeded)).toBe(true);
    // Each event reached the receiver once.
    expect(h.receiver.requests.map((r) => JSON.parse(r.body.toString()).data.n).sort()).toEqual([1, 2]);
  });
});
