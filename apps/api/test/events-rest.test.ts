import type { EventId, UserId } from '@switchboard/core';
import { headersOf, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { deliveries, events } from '@switchboard/db';
import { count, inArray } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from './delivery-fixtures.ts';
import { ADMIN, basic, factories, startTestServer, type TestServer } from './harness.ts';

type Member = Awaited<ReturnType<ReturnType<typeof factories>['user']>>;

describe('POST /events', () => {
  let server: TestServer;
  let receiver: TestReceiver;
  let publisher: Member;
  let token: string;
  const admin = () => ({
    user: { id: '' as UserId, username: ADMIN.username, role: 'admin' as const },
    via: 'system' as const,
    scopes: ['admin' as const],
  });

  async function post(body: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${server.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: token, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  }

  const storedEvents = async () =>
    Number((await server.database.client.db.select({ n: count() }).from(events))[0]?.n ?? 0);

  /** Polls until `done` holds, failing with what was awaited after 20 s. */
  async function until<T>(awaited: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    try {
      return await eventually(read, done, 20_000);
    } catch (error) {
      throw new Error(`waited 20 s for ${awaited}: ${(error as Error).message}`);
    }
  }

  /**
   * Waits until no delivery of these events is still to be sent: every request they will ever
   * make has then reached the receiver, so what it has not seen by now it will never see.
   */
  const settled = (eventIds: EventId[]) =>
    until(
      `the deliveries of ${eventIds.join(', ')} to be done`,
      () =>
        server.database.client.db
          .select({ status: deliveries.status })
          .from(deliveries)
          .where(inArray(deliveries.eventId, eventIds)),
      (rows) => rows.every((row) => row.status !== 'pending' && row.status !== 'delivering'),
    );

  async function subscribe(owner: Member, name: string, definition: Record<string, unknown>) {
    const principal = { user: owner.user, via: 'password' as const, scopes: ['subscriptions:write' as const] };
    const created = await server.core.subscriptions.create(principal, {
      name,
      url: `${receiver.url}/${name}`,
      eventTypes: ['invoice.*'],
      ...definition,
    });
    if (!created.ok) throw new Error(created.error.message);
    return created.value.subscription;
  }

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    receiver = await startReceiver();
    const make = factories(server.core);
    publisher = await make.user();
    token = (await publisher.token(['events:publish', 'subscriptions:write'])).authorization;
    for (const name of ['invoice.paid', 'invoice.voided', 'order.created']) {
      await server.core.eventTypes.create(admin(), { name });
    }
    await server.core.eventTypes.create(admin(), {
      name: 'invoice.strict',
      schema: { type: 'object', required: ['amount'], properties: { amount: { type: 'integer', minimum: 0 } } },
    });
  });
  afterAll(async () => {
    await receiver.close();
    await server.close();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
    receiver.respondWith(() => ({ status: 200 }));
  });

  it('publishes to the subscriptions whose patterns and filters match, and to no others', async () => {
    await subscribe(publisher, 'all-invoices', {});
    await subscribe(publisher, 'big-invoices', { filter: { 'data.amount': { $gte: 100 } } });
    await subscribe(publisher, 'paid-only', { eventTypes: ['invoice.paid'] });
    await subscribe(publisher, 'orders', { eventTypes: ['*.created'] });

    const small = await post({ type: 'invoice.paid', payload: { amount: 5 } });
    expect(small.status).toBe(202);
    expect(small.body).toMatchObject({ type: 'invoice.paid', status: 'published', duplicate: false, deliveries: 2 });
    const big = await post({ type: 'invoice.voided', payload: { amount: 500 } });
    expect(big.body.deliveries).toBe(2);
    const order = await post({ type: 'order.created', payload: { amount: 500 } });
    expect(order.body.deliveries).toBe(1);

    await settled([small.body.id, big.body.id, order.body.id]);
    const seen = receiver.requests.map((r) => `${r.path} ${JSON.parse(r.body.toString()).type}`).sort();
    expect(seen).toEqual([
      '/all-invoices invoice.paid',
      '/all-invoices invoice.voided',
      '/big-invoices invoice.voided',
      '/orders order.created',
      '/paid-only invoice.paid',
    ]);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const succeeded = /switchboard_delivery_attempts_total\{outcome="succeeded"\} (\d+)/.exec(metrics);
    expect(Number(succeeded?.[1])).toBeGreaterThanOrEqual(5);
    expect(metrics).toContain('switchboard_delivery_attempt_duration_seconds_bucket');
    expect(metrics).toContain('switchboard_deliveries_in_flight');
  });

  it('returns the first event again for a repeated Idempotency-Key, and refuses the key for a different event', async () => {
    const first = await post({ type: 'invoice.paid', payload: { amount: 1 } }, { 'idempotency-key': 'pay-1' });
    const again = await post({ type: 'invoice.paid', payload: { amount: 1 } }, { 'idempotency-key': 'pay-1' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true, deliveries: 0 });
    const before = await storedEvents();
    const other = await post({ type: 'invoice.paid', payload: { amount: 2 } }, { 'idempotency-key': 'pay-1' });
    expect(other.status).toBe(409);
    expect(other.body.error).toContain(first.body.id);
    expect(await storedEvents()).toBe(before);
    // Keys belong to their publisher: another user's same key is another event.
    const stranger = await factories(server.core).user();
    const theirs = await post(
      { type: 'invoice.paid', payload: { amount: 1 } },
      { 'idempotency-key': 'pay-1', authorization: (await stranger.token(['events:publish'])).authorization },
    );
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(first.body.id);
  });

  it('de-duplicates by content when asked, whatever the key order of the payload', async () => {
    const first = await post({ type: 'invoice.paid', payload: { a: 1, b: { c: 2, d: 3 } }, dedupe: 'content' });
    const again = await post({ type: 'invoice.paid', payload: { b: { d: 3, c: 2 }, a: 1 }, dedupe: 'content' });
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
    const different = await post({ type: 'invoice.paid', payload: { a: 2 }, dedupe: 'content' });
    expect(different.body.duplicate).toBe(false);
    const notAsked = await post({ type: 'invoice.paid', payload: { a: 1, b: { c: 2, d: 3 } } });
    expect(notAsked.body.id).not.toBe(first.body.id);
  });

  it('refuses a payload that breaks the schema of its type, with every error, and stores nothing', async () => {
    const before = await storedEvents();
    const refused = await post({ type: 'invoice.strict', payload: { amount: -3, note: 1 } });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('The payload does not match the schema of "invoice.strict"');
    expect(refused.body.fields).toEqual([{ path: 'payload/amount', message: 'must be >= 0' }]);
    const missing = await post({ type: 'invoice.strict', payload: {} });
    expect(missing.body.fields).toEqual([{ path: 'payload', message: "must have required property 'amount'" }]);
    expect(await storedEvents()).toBe(before);
  });

  it('answers bad requests with a 4xx that says what is wrong, and stores nothing', async () => {
    const before = await storedEvents();
    const malformed = await post('{"type": "invoice.paid", "payload": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/JSON/);
    expect((await post([1, 2])).body.error).toMatch(/must be a JSON object/);
    const nul = await post({ type: 'invoice.paid\u0000', payload: {} });
    expect(nul.status).toBe(400);
    expect(nul.body.fields).toEqual([{ path: 'type', message: 'must not contain the NUL character (\\u0000)' }]);
    const unknown = await post({ type: 'no.such.type', payload: {} });
    expect(unknown.status).toBe(400);
    expect(unknown.body.fields).toEqual([
      { path: 'type', message: 'is not a known event type; an admin creates it first' },
    ]);
    const noPayload = await post({ type: 'invoice.paid' });
    expect(noPayload.body.fields?.[0]?.path).toBe('payload');
    expect((await post({ type: 'invoice.paid', payload: {} }, { 'idempotency-key': 'x'.repeat(300) })).status).toBe(
      400,
    );
    expect((await post({ type: 'invoice.paid', payload: {}, dedupe: 'body' })).status).toBe(400);
    const text = await fetch(`${server.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: token },
      body: 'hello',
    });
    expect(text.status).toBe(415);
    await server.core.eventTypes.setArchived(admin(), 'order.created', true);
    expect((await post({ type: 'order.created', payload: {} })).status).toBe(409);
    await server.core.eventTypes.setArchived(admin(), 'order.created', false);
    const deep = `{"type": "invoice.paid", "payload": ${'['.repeat(200_000)}${']'.repeat(200_000)}}`;
    const tooDeep = await post(deep);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.fields).toEqual([{ path: 'payload', message: 'nests too deeply to be sent' }]);
    const forged = await post({ type: 'subscription.disabled', payload: { subscriptionId: 'x' } });
    expect(forged).toEqual({
      status: 403,
      body: { error: '"subscription.disabled" events are published by Switchboard itself' },
    });
    expect(await storedEvents()).toBe(before);
  });

  it('signs with a rotated secret at once, and publishes on after a user with subscriptions is deleted', async () => {
    const owner = await factories(server.core).user();
    const principal = { user: owner.user, via: 'password' as const, scopes: ['subscriptions:write' as const] };
    const sub = await subscribe(owner, 'rotating', { eventTypes: ['invoice.voided'] });
    const rotated = await server.core.subscriptions.rotateSecret(principal, sub.id, 0);
    if (!rotated.ok) throw new Error(rotated.error.message);
    expect((await post({ type: 'invoice.voided', payload: { n: 1 } })).status).toBe(202);
    const mine = async () => receiver.requests.filter((r) => r.path === '/rotating');
    const [request] = await until('the delivery to /rotating', mine, (requests) => requests.length > 0);
    if (!request) throw new Error('nothing arrived');
    expect(() => new Webhook(rotated.value.secret).verify(request.body, headersOf(request))).not.toThrow();

    const gone = await server.core.users.delete(admin(), owner.user.id);
    expect(gone.ok).toBe(true);
    const after = await post({ type: 'invoice.voided', payload: { n: 2 } });
    expect(after.status).toBe(202);
  });

  it('two publishes with one Idempotency-Key that wait for a blocking subscription send to it once', async () => {
    const owner = await factories(server.core).user();
    await server.core.eventTypes.create(admin(), { name: 'deploy.requested' });
    await subscribe(owner, 'approver', { eventTypes: ['deploy.requested'], mode: 'blocking' });
    receiver.respondWith((request) => (request.path === '/approver' ? { status: 200, delayMs: 300 } : { status: 200 }));
    const body = { type: 'deploy.requested', payload: { build: 7 }, wait: true };
    const [first, second] = await Promise.all([
      post(body, { 'idempotency-key': 'deploy-7' }),
      post(body, { 'idempotency-key': 'deploy-7' }),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 202]);
    expect(first.body.id).toBe(second.body.id);
    expect(receiver.requests.filter((r) => r.path === '/approver')).toHaveLength(1);
  });

  it('refuses the anonymous, wrong tokens and tokens without events:publish', async () => {
    const anonymous = await post({ type: 'invoice.paid', payload: {} }, { authorization: '' });
    expect(anonymous.status).toBe(401);
    expect((await post({ type: 'invoice.paid', payload: {} }, { authorization: 'Bearer sb_nope_nope' })).status).toBe(
      401,
    );
    const reader = (await publisher.token(['subscriptions:read'])).authorization;
    const forbidden = await post({ type: 'invoice.paid', payload: {} }, { authorization: reader });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toBe('Publishing events needs the events:publish scope');
    const password = basic(publisher.user.username, publisher.password);
    expect((await post({ type: 'invoice.paid', payload: { via: 'basic' } }, { authorization: password })).status).toBe(
      202,
    );
  });

  it('with wait: true, a blocking subscription cancels the event: the reason comes back and async subscriptions get nothing', async () => {
    const owner = await factories(server.core).user();
    await server.core.eventTypes.create(admin(), { name: 'adjust.requested' });
    const gate = await subscribe(owner, 'gate', { eventTypes: ['adjust.requested'], mode: 'blocking' });
    await subscribe(owner, 'after', { eventTypes: ['adjust.requested'] });
    receiver.respondWith((request) =>
      request.path === '/gate'
        ? {
            status: 200,
            headers: { 'content-type': 'application/vnd.opsani.servo.errors.CancelEventError+json' },
            body: JSON.stringify({ reason: 'Adjustments are only permitted between midnight and 3am.' }),
          }
        : { status: 200 },
    );
    const cancelled = await post({ type: 'adjust.requested', payload: { replicas: 3 }, wait: true });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toMatchObject({
      status: 'cancelled',
      cancelReason: 'Adjustments are only permitted between midnight and 3am.',
      cancelledBy: gate.id,
      deliveries: 1,
    });
    // Earlier tests' deliveries may still be arriving; only this test's paths count.
    const mine = () => receiver.requests.filter((r) => r.path === '/gate' || r.path === '/after');

    // A blocking subscription that lets the event through: then the async ones are sent.
    receiver.respondWith(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{}' }));
    const allowed = await post({ type: 'adjust.requested', payload: { replicas: 4 }, wait: true });
    expect(allowed.body).toMatchObject({ status: 'published', deliveries: 2 });
    expect(allowed.body.blocking).toEqual([{ subscriptionId: gate.id, succeeded: true, statusCode: 200, error: null }]);
    // Once the let-through event's deliveries are done (and the cancelled one's, had it any),
    // the only request /after ever gets is the later event's.
    await settled([cancelled.body.id, allowed.body.id]);
    expect(mine().map((r) => [r.path, JSON.parse(r.body.toString()).data.replicas])).toEqual([
      ['/gate', 3],
      ['/gate', 4],
      ['/after', 4],
    ]);
  });
});
