import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job, Principal } from '../src/index.ts';
import { type DeliveryHarness, must, startDeliveryHarness } from './delivery-harness.ts';

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
    must(await h.core.jobs.cancel(alice, created.id));
    // Let the announcement of the cancellation arrive while nothing follows the job yet.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const controller = new AbortController();
    const stream = h.core.jobUpdates.follow(opened, controller.signal);
    const next = async (): Promise<Job | 'nothing'> =>
      Promise.race([
        stream.next().then((r) => (r.done ? 'nothing' : r.value)),
        new Promise<'nothing'>((resolve) => setTimeout(() => resolve('nothing'), 2000)),
      ]);
    try {
      // The stream starts from the job as it is, not as it was when opened.
      expect(await next()).toMatchObject({ id: created.id, state: 'cancelled' });
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
