import { deliveries, deliveryAttempts } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryId, Principal } from '../src/index.ts';
import { createHttpSender } from '../src/outbound/http-sender.ts';
import { type ResolveAll, SsrfGuard } from '../src/outbound/ssrf-guard.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

/** Names the tests resolve themselves: one to loopback, one to the metadata address, one mixed. */
const fakeDns: Record<string, string[]> = {
  'internal.test': ['127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'mixed.test': ['93.184.215.14', '10.0.0.1'],
};

/** Resolves the names above, and refuses every other as the system resolver would. */
const resolve: ResolveAll = async (host) => {
  const addresses = fakeDns[host];
  if (!addresses) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('SSRF guard on deliveries (no DELIVERY_ALLOWED_NETWORKS)', () => {
  /** The sender core builds, built the same way: the guard with no allowed networks. */
  const sender = createHttpSender(new SsrfGuard([], resolve));
  let h: DeliveryHarness;
  let alice: Principal;

  beforeAll(async () => {
    h = await startDeliveryHarness({
      delivery: {
        allowedNetworks: [],
        resolve,
      },
    });
    alice = await h.user('alice');
    must(await h.core.eventTypes.create(h.admin, { name: 'probe.sent' }));
  });
  afterAll(async () => {
    await sender.close();
    await h.close();
  });

  /** One POST from the delivery sender to the receiver's port on `host`. */
  const sendTo = (host: string) =>
    sender.send({
      url: `http://${host}:${h.receiver.port}/`,
      method: 'POST',
      headers: {},
      body: Buffer.from('{}'),
      timeoutMs: 2000,
    });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['[::ffff:127.0.0.1]', 'loopback'],
  ])('the sender refuses %s (%s) without connecting', async (host, range) => {
    const result = await sendTo(host);
    expect(result).toMatchObject({ kind: 'error', refused: true });
    expect(result.kind === 'error' && result.error).toContain(`is a ${range} address`);
    expect(h.receiver.requests).toHaveLength(0);
  });

  it.each(['internal.test', 'metadata.test', 'mixed.test'])(
    'the sender refuses a host name that resolves to a forbidden address (%s)',
    async (host) => {
      const result = await sendTo(host);
      expect(result).toMatchObject({ kind: 'error', refused: true });
      expect(result.kind === 'error' && result.error).toMatch(
        new RegExp(`^refused: ${host.replace('.', '\\.')} resolves to`),
      );
      expect(h.receiver.requests).toHaveLength(0);
    },
  );

  it('refuses a subscription whose URL is a forbidden address, with the reason', async () => {
    for (const host of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '[::ffff:127.0.0.1]']) {
      const refused = await h.core.subscriptions.create(alice, {
        name: 'probe',
        url: `http://${host}/hook`,
        eventTypes: ['probe.sent'],
      });
      expect(refused.ok).toBe(false);
      expect(!refused.ok && refused.error.fields?.[0]?.path).toBe('url');
    }
    expect(must(await h.core.subscriptions.list(alice))).toHaveLength(0);
  });

  it('a delivery to a name that resolves to loopback is refused at connection time and recorded as such', async () => {
    const { subscription } = must(
      await h.core.subscriptions.create(alice, {
        name: 'sneaky',
        url: `http://internal.test:${h.receiver.port}/hook`,
        eventTypes: ['probe.sent'],
        retryPolicy: { maxAttempts: 1 },
      }),
    );
    must(await h.core.publisher.publish(alice, { type: 'probe.sent', payload: {} }));
    expect(await h.core.worker.runOnce()).toBe(1);
    const [delivery] = await h.database.client.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.subscriptionId, subscription.id));
    expect(delivery?.status).toBe('failed');
    const [attempt] = await h.database.client.db
      .select()
      .from(deliveryAttempts)
      .where(eq(deliveryAttempts.deliveryId, delivery?.id ?? (0 as DeliveryId)));
    expect(attempt?.error).toMatch(/^refused: internal\.test resolves to 127\.0\.0\.1 is a loopback address/);
    expect(attempt?.statusCode).toBeNull();
    expect(h.receiver.requests).toHaveLength(0);
  });
});
