import { messages } from '@switchboard/db';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore, systemPrincipal } from '../src/index.ts';
import { QueuesService } from '../src/queues/queues-service.ts';
import { sweepRetention } from '../src/queues/retention.ts';
import { silentLogger as logger } from '../src/shared/logger.ts';
import { noPubSub as pubsub } from '../src/shared/pubsub.ts';

/**
 * Every statement runs under the statement deadline, so removing many messages is done a batch at
 * a time; a batch of two here stands for the ten thousand of production.
 */
describe('removing messages in batches', () => {
  let database: TestDatabase;
  let core: Core;
  let now = new Date('2026-01-01T00:00:00Z');
  const clock = { now: () => now };
  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({ db: database.client.db, clock });
    await core.registry.start();
  });
  afterAll(async () => {
    await database.drop();
  });

  const post = (queue: string, body: string) =>
    core.ingest.ingest(queue, { body: Buffer.from(body), headers: {}, query: {}, sourceIp: '127.0.0.1' });

  it('finding 7: retention removes every expired message when there are more than one batch holds', async () => {
    expect((await core.queues.create(systemPrincipal, { name: 'batched', retentionSeconds: 60 })).ok).toBe(true);
    for (const body of ['a', 'b', 'c', 'd', 'e']) expect((await post('batched', body)).ok).toBe(true);
    now = new Date(now.getTime() + 120_000);
    expect((await post('batched', 'fresh')).ok).toBe(true);

    const removed = await sweepRetention({ db: database.client.db, clock, logger, batchSize: 2 });
    expect(removed).toBe(5);
    const queue = await core.queues.getByName(systemPrincipal, 'batched');
    expect(queue.ok && { count: queue.value.messageCount, bytes: queue.value.totalBytes }).toEqual({
      count: 1,
      bytes: 5,
    });
  });

  it('finding 7: deleting a queue removes all its messages, more than one batch holds', async () => {
    const created = await core.queues.create(systemPrincipal, { name: 'doomed' });
    if (!created.ok) throw new Error(created.error.message);
    for (const body of ['a', 'b', 'c', 'd', 'e']) expect((await post('doomed', body)).ok).toBe(true);
    const queues = new QueuesService({
      db: database.client.db,
      clock,
      logger,
      pubsub,
      deleteBatchSize: 2,
    });
    const deleted = await queues.delete(systemPrincipal, created.value.id);
    expect(deleted.ok).toBe(true);
    expect(await database.client.db.$count(messages, eq(messages.queueId, created.value.id))).toBe(0);
  });
});
