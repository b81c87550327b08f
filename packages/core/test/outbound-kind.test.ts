import { randomUUID } from 'node:crypto';
import { deliveries, deliveryAttempts } from '@switchboard/db';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHttpSender } from '../src/outbound/http-sender.ts';
import { type OutboundKind, OutboundKinds, readColumn } from '../src/outbound/kind.ts';
import { claimDeliveries, enqueueDeliveries } from '../src/outbound/outbound-store.ts';
import type { AttemptOutcome } from '../src/outbound/outcome.ts';
import { SsrfGuard } from '../src/outbound/ssrf-guard.ts';
import { DeliveryWorker } from '../src/outbound/worker.ts';
import { silentLogger } from '../src/shared/logger.ts';
import { noPubSub } from '../src/shared/pubsub.ts';
import { startReceiver, type TestReceiver } from '../src/testing.ts';

/**
 * A kind that neither the engine nor the database functions know: it sends each delivery's own
 * body to a URL it keeps in memory, and remembers the outcomes its rule saw. If the claim or the
 * completion knew the kinds they serve, this kind's rows would never be claimed or recorded.
 */
function probeKind(url: () => string, seen: AttemptOutcome[]): OutboundKind<{ label: string }> {
  return {
    kind: 'probe',
    async plan(claimed) {
      return claimed.map((c) => ({
        request: {
          url: `${url()}/probe/${c.deliveryId}`,
          method: 'PUT',
          headers: { 'content-type': 'text/plain' },
          body: readColumn.buffer(c.columns.body),
          signing: null,
          timeoutMs: 60_000,
          retryPolicy: { scheduleMs: [0, 1000, 2000] },
          acceptedStatuses: [200],
        },
        skip: null,
        rateLimit: null,
        context: { label: `probe ${c.deliveryId}` },
      }));
    },
    onOutcome(delivery, outcome) {
      seen.push(outcome);
      return delivery.context.label.startsWith('probe') ? outcome : { ...outcome, status: 'failed' };
    },
  };
}

describe('an outbound kind that is one file and one registration', () => {
  let database: TestDatabase;
  let receiver: TestReceiver;
  let worker: DeliveryWorker;
  let now = new Date('2026-06-01T12:00:00.000Z');
  const seen: AttemptOutcome[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await startReceiver();
    const guard = new SsrfGuard(['127.0.0.0/8', '::1/128']);
    worker = new DeliveryWorker({
      db: database.client.db,
      clock: { now: () => new Date(now) },
      logger: silentLogger,
      pubsub: noPubSub,
      sender: createHttpSender(guard),
      kinds: new OutboundKinds([probeKind(() => receiver.url, seen)]),
    });
  });
  afterAll(async () => {
    await worker.stop();
    await receiver.close();
    await database.drop();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    seen.length = 0;
  });

  async function enqueue(body: string, lane = randomUUID()) {
    await enqueueDeliveries(
      database.client.db,
      [{ kind: 'probe', lane, timeoutMs: 5_000, body: Buffer.from(body) }],
      now,
    );
    const [row] = await database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.body, Buffer.from(body)));
    if (!row) throw new Error('not enqueued');
    return row;
  }

  it('is claimed, sent as its plan says, and its outcome recorded through its own rule', async () => {
    receiver.respondWith(() => ({ status: 200 }));
    const row = await enqueue('hello from a new kind');
    expect(await worker.runOnce()).toBe(1);

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.method).toBe('PUT');
    expect(request?.path).toBe(`/probe/${row.id}`);
    expect(request?.body.toString()).toBe('hello from a new kind');
    expect(seen.map((o) => [o.deliveryId, o.disposition, o.succeeded])).toEqual([[row.id, 'attempted', true]]);

    const [after] = await database.client.db.select().from(deliveries).where(eq(deliveries.id, row.id));
    expect(after?.status).toBe('succeeded');
    const attempts = await database.client.db
      .select()
      .from(deliveryAttempts)
      .where(eq(deliveryAttempts.deliveryId, row.id));
    expect(attempts.map((a) => [a.number, a.statusCode, a.succeeded])).toEqual([[1, 200, true]]);
  });

  it('is retried on its own policy, in its own lane', async () => {
    receiver.respondWith(() => ({ status: 503 }));
    const lane = randomUUID();
    const first = await enqueue('retry me', lane);
    expect(await worker.runOnce()).toBe(1);
    const [pending] = await database.client.db.select().from(deliveries).where(eq(deliveries.id, first.id));
    expect(pending?.status).toBe('pending');
    // The kind's first retry comes 1 s later, give or take the jitter (its schedule), not 5 s (the default).
    const delay = (pending?.nextAttemptAt?.getTime() ?? 0) - now.getTime();
    expect(delay).toBeGreaterThanOrEqual(800);
    expect(delay).toBeLessThanOrEqual(1200);

    now = new Date(now.getTime() + 1200);
    receiver.respondWith(() => ({ status: 200 }));
    expect(await worker.runOnce()).toBe(1);
    const [done] = await database.client.db.select().from(deliveries).where(eq(deliveries.id, first.id));
    expect(done?.status).toBe('succeeded');
    expect(done?.attempts).toBe(2);
    expect(done?.lane).toBe(lane);
  });

  it("is leased for the row's timeout, and its request never outlasts the lease, whatever the kind asks", async () => {
    const row = await enqueue('lease me');
    const kinds = new OutboundKinds([probeKind(() => receiver.url, seen)]);
    const [claimed] = await claimDeliveries(database.client.db, kinds, { now, limit: 10, leaseMarginMs: 1000 });
    expect(claimed?.deliveryId).toBe(row.id);
    // The kind asked for 60 s; the row says 5 s.
    expect(claimed?.request.timeoutMs).toBe(5_000);
    const [leased] = await database.client.db.select().from(deliveries).where(eq(deliveries.id, row.id));
    expect(leased?.status).toBe('delivering');
    expect(leased?.nextAttemptAt?.getTime()).toBe(now.getTime() + 5_000 + 1_000);
  });
});
