import { deliveries, jobs, subscriptions } from '@switchboard/db';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfigFile } from '../src/config/config-file.ts';
import {
  type DeliveryId,
  type JobId,
  type Principal,
  type SubscriptionDefinition,
  type SubscriptionId,
  silentLogger,
} from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

/** "a"×48 and "!": about two minutes of backtracking for `^(a|aa)+$`, far past the test timeout. */
const CATASTROPHIC_INPUT = `${'a'.repeat(48)}!`;
const INJECTED = 'a\r\nInjected: 1';

describe('user-supplied patterns and headers', () => {
  let h: DeliveryHarness;
  let alice: Principal;
  let n = 0;
  let type = '';

  beforeAll(async () => {
    h = await startDeliveryHarness();
    alice = await h.user('alice');
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(async () => {
    type = `rules-${++n}.happened`;
    must(await h.core.eventTypes.create(h.admin, { name: type }));
    h.receiver.requests.length = 0;
  });

  const definition = (extra: Partial<SubscriptionDefinition> = {}): SubscriptionDefinition => ({
    name: `sub-${++n}`,
    url: `${h.receiver.url}/hooks/${n}`,
    eventTypes: [type],
    ...extra,
  });

  async function deliveryOf(where: { subscriptionId?: SubscriptionId; jobId?: JobId }) {
    const rows = await h.database.client.db
      .select()
      .from(deliveries)
      .where(
        where.jobId
          ? eq(deliveries.jobId, where.jobId)
          : eq(deliveries.subscriptionId, where.subscriptionId as SubscriptionId),
      );
    return rows;
  }

  it('finding 2: a catastrophic $regex filter is accepted and decides matching and non-matching events at once', async () => {
    const { subscription } = must(
      await h.core.subscriptions.create(alice, definition({ filter: { 'data.s': { $regex: '^(a|aa)+$' } } })),
    );
    // A backtracking engine would hang here, far past the test's timeout.
    const missed = must(await h.core.publisher.publish(alice, { type, payload: { s: CATASTROPHIC_INPUT } }));
    expect(missed.deliveryCount).toBe(0);
    const matched = must(await h.core.publisher.publish(alice, { type, payload: { s: 'a'.repeat(48) } }));
    expect(matched.deliveryCount).toBe(1);
    expect(await deliveryOf({ subscriptionId: subscription.id })).toHaveLength(1);
  });

  it('finding 2: a filter RE2 cannot run (a backreference, lookaround, a possessive quantifier) is refused with a field problem naming its path', async () => {
    const refused = await h.core.subscriptions.create(
      alice,
      definition({
        filter: {
          'data.word': { $regex: '^(\\w+) \\1$' },
          $or: [{ 'data.next': { $regex: 'foo(?=bar)' } }, { 'data.count': { $regex: '\\d++' } }],
        },
      }),
    );
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.fields).toEqual([
      { path: 'filter.data.word.$regex', message: expect.stringMatching(/backreference.*not supported/) },
      { path: 'filter.$or.0.data.next.$regex', message: expect.stringMatching(/lookahead.*not supported/) },
      { path: 'filter.$or.1.data.count.$regex', message: expect.stringMatching(/possessive.*not supported/) },
    ]);
    // Updating to such a filter is refused the same way.
    const { subscription } = must(await h.core.subscriptions.create(alice, definition()));
    const update = await h.core.subscriptions.update(
      alice,
      subscription.id,
      definition({ name: subscription.name, filter: { s: { $regex: '(?<=a)b' } } }),
    );
    expect(!update.ok && update.error.fields).toEqual([
      { path: 'filter.s.$regex', message: expect.stringMatching(/lookbehind.*not supported/) },
    ]);
  });

  it("finding 2: a filter's regular expressions are limited in total, not only one by one", async () => {
    // Each of these is allowed alone; a filter of hundreds of them would cost seconds per publish.
    const many = { $or: Array.from({ length: 11 }, (_, i) => ({ [`data.f${i}`]: { $regex: `^v${i}` } })) };
    const refused = await h.core.subscriptions.create(alice, definition({ filter: many }));
    expect(!refused.ok && refused.error.fields).toEqual([
      { path: 'filter', message: expect.stringMatching(/at most 10 regular expressions/) },
    ]);
    // Two patterns of about 700 instructions each: under the limit one by one, over it together.
    const heavy = { 'data.a': { $regex: '\\w{690}' }, $not: { 'data.b': { $regex: '\\d{690}' } } };
    const tooComplex = await h.core.subscriptions.create(alice, definition({ filter: heavy }));
    expect(!tooComplex.ok && tooComplex.error.fields).toEqual([
      { path: 'filter', message: expect.stringMatching(/regular expressions that are too complex together/) },
    ]);
    const { subscription } = must(
      await h.core.subscriptions.create(alice, definition({ filter: { $or: many.$or.slice(0, 10) } })),
    );
    const update = await h.core.subscriptions.update(
      alice,
      subscription.id,
      definition({ name: subscription.name, filter: heavy }),
    );
    expect(!update.ok && update.error.fields?.map((f) => f.path)).toEqual(['filter']);
  });

  it('finding 2: a stored filter RE2 cannot compile matches nothing, even under $not, and is logged once', async () => {
    const warn = vi.spyOn(silentLogger, 'warn');
    try {
      const { subscription } = must(await h.core.subscriptions.create(alice, definition()));
      // Written before RE2 syntax was required, or by hand: a lookahead RE2 cannot run.
      await h.database.client.db
        .update(subscriptions)
        .set({ filter: { $not: { 'data.s': { $regex: 'foo(?=bar)' } } } })
        .where(eq(subscriptions.id, subscription.id));
      await h.core.subscriptions.changed();
      for (const s of ['nothing like it', 'foobar', 'secret-payload-value']) {
        const published = must(await h.core.publisher.publish(alice, { type, payload: { s } }));
        expect(published.deliveryCount).toBe(0);
      }
      await h.core.subscriptions.changed();
      must(await h.core.publisher.publish(alice, { type, payload: { s: 'again' } }));
      expect(await deliveryOf({ subscriptionId: subscription.id })).toHaveLength(0);
      const logged = warn.mock.calls.filter(([fields]) => (fields as { subscriptionId?: string }).subscriptionId);
      expect(logged).toEqual([
        [
          {
            subscriptionId: subscription.id,
            path: 'filter.$not.data.s.$regex',
            reason: expect.stringMatching(/lookahead/),
          },
          expect.any(String),
        ],
      ]);
      expect(JSON.stringify(logged)).not.toContain('secret-payload-value');
    } finally {
      warn.mockRestore();
    }
  });

  it('finding 10: CR, LF, NUL and other control characters in header values, and bad header names, are refused at creation', async () => {
    const refused = await h.core.subscriptions.create(
      alice,
      definition({ headers: { 'X-A': INJECTED, 'X-B': 'nul\u0000', 'X-C': 'bell\u0007', 'Bad Name': 'x' } }),
    );
    expect(!refused.ok && refused.error.fields?.map((f) => f.path).sort()).toEqual([
      'headers.Bad Name',
      'headers.X-A',
      'headers.X-B',
      'headers.X-C',
    ]);
    expect(!refused.ok && refused.error.fields?.find((f) => f.path === 'headers.X-A')?.message).toMatch(
      /control characters/,
    );
    // Tabs and non-ASCII Latin-1 text are fine in a header value.
    must(await h.core.subscriptions.create(alice, definition({ headers: { 'X-Note': 'a\tcafé' } })));

    const { subscription } = must(await h.core.subscriptions.create(alice, definition()));
    const update = await h.core.subscriptions.update(
      alice,
      subscription.id,
      definition({ name: subscription.name, headers: { 'X-A': INJECTED } }),
    );
    expect(!update.ok && update.error.fields?.map((f) => f.path)).toEqual(['headers.X-A']);

    const job = await h.core.jobs.create(alice, { url: `${h.receiver.url}/job`, headers: { 'X-A': INJECTED } });
    expect(!job.ok && job.error.fields?.map((f) => f.path)).toEqual(['headers.X-A']);
    expect((await h.database.client.db.select().from(jobs)).length).toBe(0);

    const config = parseConfigFile(
      'webhooks:\n  - events: [after:measure]\n    url: https://example.com/hook\n    secret: a-secret-long-enough\n    headers: [{ name: x-a, value: "a\\r\\nInjected: 1" }]\n',
    );
    expect(!config.ok && config.error.fields?.map((f) => f.path)).toEqual(['webhooks.0.headers.x-a']);
  });

  it('finding 10: a delivery whose stored header cannot be sent is recorded as an invalid request, once, without retries', async () => {
    // What earlier tests left due is sent first, so that the receiver sees only this test's requests.
    await h.drain();
    h.receiver.requests.length = 0;
    const { subscription } = must(
      await h.core.subscriptions.create(alice, definition({ headers: { 'X-A': 'fine' }, disableAfterFailures: null })),
    );
    // As if written before the rule existed, or by hand.
    await h.database.client.db
      .update(subscriptions)
      .set({ headers: { 'X-A': INJECTED } })
      .where(eq(subscriptions.id, subscription.id));
    await h.core.subscriptions.changed();
    must(await h.core.publisher.publish(alice, { type, payload: { id: 1 } }));
    await h.drain();
    h.clock.advance(86_400_000);
    await h.drain();
    const [delivery] = await deliveryOf({ subscriptionId: subscription.id });
    expect(delivery).toMatchObject({ status: 'failed', attempts: 1 });
    expect(delivery?.lastError).toMatch(/^invalid request: /);
    expect(delivery?.lastError).not.toContain('Injected');
    const attempts = await h.core.deliveries.attemptsOf([delivery?.id as DeliveryId]);
    expect(attempts.get(delivery?.id as DeliveryId)?.map((a) => a.error)).toEqual([
      expect.stringMatching(/^invalid request: /),
    ]);
    expect(h.receiver.requests).toHaveLength(0);

    const job = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/job`, headers: { 'X-A': 'fine' } }));
    await h.database.client.db
      .update(jobs)
      .set({ headers: { 'X-A': INJECTED } })
      .where(eq(jobs.id, job.id));
    await h.drain();
    h.clock.advance(86_400_000);
    await h.drain();
    const [request] = await deliveryOf({ jobId: job.id });
    expect(request).toMatchObject({ status: 'failed', attempts: 1 });
    expect(must(await h.core.jobs.get(alice, job.id))).toMatchObject({
      state: 'failed',
      attempts: 1,
      lastError: expect.stringMatching(/^invalid request: /),
    });
    expect(h.receiver.requests).toHaveLength(0);
  });
});
