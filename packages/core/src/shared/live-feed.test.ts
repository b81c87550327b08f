import { describe, expect, it } from 'vitest';
import { LiveFeed, parseIds } from './live-feed.ts';
import { silentLogger } from './logger.ts';
import type { PubSub } from './pubsub.ts';

/** LISTEN/NOTIFY within the process: `notify` calls the handlers at once. */
function localPubSub() {
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const pubsub: PubSub = {
    async listen(channel, handler) {
      const set = handlers.get(channel) ?? new Set();
      handlers.set(channel, set);
      set.add(handler);
      return async () => {
        set.delete(handler);
      };
    },
    async notify(channel, payload) {
      for (const handler of handlers.get(channel) ?? []) handler(payload);
    },
  };
  return { pubsub, listeners: (channel: string) => handlers.get(channel)?.size ?? 0 };
}

/** The stream's next row, or a failure naming what was awaited. */
async function nextOf<T>(stream: AsyncGenerator<T>, awaited: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${awaited}`)), 10_000);
  });
  try {
    const step = await Promise.race([stream.next(), deadline]);
    if (step.done) throw new Error(`the stream ended before ${awaited}`);
    return step.value;
  } finally {
    clearTimeout(timer);
  }
}

interface Row {
  id: string;
  version: number;
}

/** A feed of rows by id, whose reads are recorded; `table` is what the rows are now. */
function rowFeed(pubsub: PubSub) {
  const table = new Map<string, number>();
  const reads: string[][] = [];
  const feed = new LiveFeed<string, Row>({
    pubsub,
    logger: silentLogger,
    name: 'rows',
    channels: [
      {
        channel: 'rows',
        changed: async (payload, listened) => {
          const ids = parseIds(payload, 'string').filter(listened);
          reads.push(ids);
          return ids.map((id) => ({ id, version: table.get(id) ?? 0 }));
        },
      },
    ],
    route: { keyOf: (row) => row.id },
    buffer: 10,
  });
  return { feed, table, reads };
}

describe('parseIds', () => {
  it('reads the ids of a JSON array, of the asked kind only', () => {
    expect(parseIds('[1, "2", 3.5, null, "x", 9007199254740993]', 'number')).toEqual([1, 2, 0]);
    expect(parseIds('["a", 1, null, "b"]', 'string')).toEqual(['a', 'b']);
  });

  it('names no id for a payload that is not a JSON array', () => {
    for (const payload of ['', 'not json', '{"ids": [1]}', '7', 'null', '"[1]"']) {
      expect(parseIds(payload, 'number'), payload).toEqual([]);
      expect(parseIds(payload, 'string'), payload).toEqual([]);
    }
  });
});

describe('LiveFeed', () => {
  it('reads the rows of a notification once, for the listened keys only, and hands each to its listeners', async () => {
    const { pubsub } = localPubSub();
    const { feed, table, reads } = rowFeed(pubsub);
    await feed.start();
    const stop = new AbortController();
    const a1 = feed.follow('a', stop.signal);
    const a2 = feed.follow('a', stop.signal);
    const b = feed.follow('b', stop.signal);
    const [first1, first2, firstB] = [nextOf(a1, 'a row a'), nextOf(a2, 'a row a'), nextOf(b, 'a row b')];
    table.set('a', 1);
    await pubsub.notify('rows', '["a", "c"]');
    expect(await first1).toEqual({ id: 'a', version: 1 });
    expect(await first2).toEqual({ id: 'a', version: 1 });
    expect(reads).toEqual([['a']]);
    table.set('b', 4);
    await pubsub.notify('rows', '["b"]');
    expect(await firstB).toEqual({ id: 'b', version: 4 });
    stop.abort();
    await feed.stop();
  });

  it('starts from the current state read after registering, so that a change announced meanwhile still comes', async () => {
    const { pubsub } = localPubSub();
    const { feed, table } = rowFeed(pubsub);
    await feed.start();
    const stop = new AbortController();
    table.set('a', 1);
    const stream = feed.follow('a', stop.signal, {
      current: async () => {
        const now = { id: 'a', version: table.get('a') ?? 0 };
        table.set('a', 2);
        await pubsub.notify('rows', '["a"]');
        return now;
      },
    });
    expect(await nextOf(stream, 'the current state')).toEqual({ id: 'a', version: 1 });
    expect(await nextOf(stream, 'the change announced while it was read')).toEqual({ id: 'a', version: 2 });
    stop.abort();
    await feed.stop();
  });

  it('forgets a listener when its stream is aborted, and reads nothing for nobody', async () => {
    const { pubsub } = localPubSub();
    const { feed, reads } = rowFeed(pubsub);
    await feed.start();
    const stop = new AbortController();
    const stream = feed.follow('a', stop.signal);
    const pending = stream.next();
    await pubsub.notify('rows', '["a"]');
    await pending;
    stop.abort();
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    await pubsub.notify('rows', '["a"]');
    expect(reads).toEqual([['a']]);
  });

  it('stops listening on every channel', async () => {
    const { pubsub, listeners } = localPubSub();
    const { feed } = rowFeed(pubsub);
    await feed.start();
    expect(listeners('rows')).toBe(1);
    await feed.stop();
    expect(listeners('rows')).toBe(0);
  });

  it('hands a row to each listener whose key accepts it, when listeners are keyed by a filter', async () => {
    const { pubsub } = localPubSub();
    const feed = new LiveFeed<{ even: boolean }, number>({
      pubsub,
      logger: silentLogger,
      name: 'numbers',
      channels: [{ channel: 'numbers', changed: (payload) => parseIds(payload, 'number') }],
      route: { accepts: (key, n) => (n % 2 === 0) === key.even },
      buffer: 10,
    });
    await feed.start();
    const stop = new AbortController();
    const even = feed.follow({ even: true }, stop.signal);
    const odd = feed.follow({ even: false }, stop.signal);
    const [firstEven, firstOdd] = [nextOf(even, 'an even number'), nextOf(odd, 'an odd number')];
    await pubsub.notify('numbers', '[3, 4]');
    expect(await firstEven).toBe(4);
    expect(await firstOdd).toBe(3);
    stop.abort();
    await feed.stop();
  });

  it('reads the current state again when nothing came for `recheckMs`, or when told to look again', async () => {
    const { pubsub } = localPubSub();
    const { feed, table } = rowFeed(pubsub);
    const stop = new AbortController();
    const current = async () => ({ id: 'a', version: table.get('a') ?? 0 });
    const rechecked = feed.follow('a', stop.signal, { current, recheckMs: 20 });
    expect(await nextOf(rechecked, 'the current state')).toEqual({ id: 'a', version: 0 });
    table.set('a', 1);
    expect(await nextOf(rechecked, 'the state read again after a quiet while')).toEqual({ id: 'a', version: 1 });
    stop.abort();
    await rechecked.return(undefined);

    const again = new AbortController();
    const told = feed.follow('a', again.signal, { current });
    expect(await nextOf(told, 'the current state')).toEqual({ id: 'a', version: 1 });
    table.set('a', 2);
    feed.lookAgain();
    expect(await nextOf(told, 'the state read again when told')).toEqual({ id: 'a', version: 2 });
    again.abort();
  });
});
