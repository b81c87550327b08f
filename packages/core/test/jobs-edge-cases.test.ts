import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNELS, type Principal } from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';
import { within } from './within.ts';

describe('jobs: edge cases', () => {
  let h: DeliveryHarness;
  let alice: Principal;

  beforeAll(async () => {
    h = await startDeliveryHarness();
    await h.core.start({ worker: false });
    alice = await h.user('alice');
  });
  afterAll(async () => {
    await h.close();
  });

  it('a change made between opening the stream and following it still reaches the stream', async () => {
    const created = must(await h.core.jobs.create(alice, { url: `${h.receiver.url}/later` }));
    const opened = must(await h.core.jobUpdates.open(alice, created.id));
    // Hears the cancellation's announcement after the core's own listener, which was there first
    // and found nobody following the job: the announcement then reached no stream.
    let announced: () => void = () => {};
    const announcement = new Promise<void>((resolve) => {
      announced = resolve;
    });
    const unlisten = await h.database.client.listen(CHANNELS.jobUpdates, (payload) => {
      if ((JSON.parse(payload) as unknown[]).includes(created.id)) announced();
    });
    try {
      must(await h.core.jobs.cancel(alice, created.id));
      await within(20_000, "the cancellation's announcement", announcement);
    } finally {
      await unlisten();
    }
    const controller = new AbortController();
    const stream = h.core.jobUpdates.follow(opened, controller.signal);
    try {
      // The stream starts from the job as it is, not as it was when opened.
      const first = await within(20_000, "the stream's first job", stream.next());
      expect(first.done).toBe(false);
      expect(first.value).toMatchObject({ id: created.id, state: 'cancelled' });
    } finally {
      controller.abort();
      await stream.return(undefined);
    }
  });

  it('a cursor whose time no Date can hold is refused, not thrown', async () => {
    const cursor = `99999999999999999999:${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`;
    const listed = await h.core.jobs.list(alice, {}, { after: cursor, limit: 10 });
    expect(!listed.ok && listed.error).toMatchObject({ code: 'INVALID', message: 'Not a job cursor' });
  });
});
