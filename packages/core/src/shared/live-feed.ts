import type { Logger } from './logger.ts';
import type { PubSub } from './pubsub.ts';
import { PushQueue } from './push-queue.ts';

/** A channel a feed listens on, and what one of its notifications changed. */
export interface FeedChannel<K, R> {
  channel: string;
  /**
   * The rows a notification announces, read once for every listener. `listened` tells which keys
   * have listeners now; it is called only while there is at least one.
   */
  changed(payload: string, listened: (key: K) => boolean): readonly R[] | Promise<readonly R[]>;
}

/** Which listeners a row reaches: those of its key, or (listeners keyed by a filter) each key that accepts it. */
export type FeedRoute<K, R> =
  | { keyOf(row: R): K; accepts?: never }
  | { accepts(key: K, row: R): boolean; keyOf?: never };

export interface FeedOptions<K, R> {
  pubsub: PubSub;
  logger: Logger;
  /** Names the feed in the log when reading changed rows fails. */
  name: string;
  channels: readonly FeedChannel<K, R>[];
  route: FeedRoute<K, R>;
  /** A listener that reads slower than rows come keeps only the newest this many. */
  buffer: number;
}

export interface FollowOptions<R> {
  /**
   * The state the stream starts from, read after the listener is registered: a change committed
   * before it was registered is in what this reads, and one committed later reaches the listener.
   */
  current?: () => Promise<R>;
  /** With `current`: when the stream has handed out nothing for this long, it reads `current` again. */
  recheckMs?: number;
  /** Overrides the feed's `buffer` for this stream. */
  buffer?: number;
}

/** Makes a stream read `current` again, queued like any row. */
const LOOK = Symbol('look');
type Item<R> = R | typeof LOOK;

/**
 * Live rows for streams (graphql-ws): one LISTEN per channel and process, shared by every stream.
 * Each notification names what changed; the rows are read once and handed to each listener they
 * reach, through the listener's bounded PushQueue. The rules of who may see what stay with the
 * feed's owner: in `changed`, `route` and the stores they call.
 */
export class LiveFeed<K, R> {
  private readonly listeners = new Map<K, Set<PushQueue<Item<R>>>>();
  private unlisten: Array<() => Promise<void>> = [];

  constructor(private readonly options: FeedOptions<K, R>) {}

  async start(): Promise<void> {
    for (const { channel, changed } of this.options.channels) {
      this.unlisten.push(
        await this.options.pubsub.listen(channel, (payload) => {
          if (this.listeners.size === 0) return;
          this.read(() => changed(payload, this.listened)).catch((error) =>
            this.options.logger.warn({ err: error }, `reading ${this.options.name} failed`),
          );
        }),
      );
    }
  }

  async stop(): Promise<void> {
    for (const unlisten of this.unlisten.splice(0)) await unlisten();
  }

  /** Every stream that follows a current state reads it again now. */
  lookAgain(): void {
    for (const queues of this.listeners.values()) for (const queue of queues) queue.push(LOOK);
  }

  /** The rows that reach `key` from now on (after `current`, when given), until `signal` aborts. */
  async *follow(key: K, signal: AbortSignal, options: FollowOptions<R> = {}): AsyncGenerator<R> {
    const { current, recheckMs } = options;
    const queue = new PushQueue<Item<R>>(options.buffer ?? this.options.buffer);
    const queues = this.listeners.get(key) ?? new Set<PushQueue<Item<R>>>();
    this.listeners.set(key, queues);
    queues.add(queue);
    let timer: NodeJS.Timeout | undefined;
    try {
      if (current) queue.first(await current());
      for await (const item of queue.drain(signal)) {
        clearTimeout(timer);
        let row: R;
        if (item !== LOOK) row = item as R;
        else if (current) row = await current();
        else continue;
        if (current && recheckMs !== undefined) timer = setTimeout(() => queue.push(LOOK), recheckMs);
        yield row;
      }
    } finally {
      clearTimeout(timer);
      queues.delete(queue);
      if (queues.size === 0) this.listeners.delete(key);
    }
  }

  private readonly listened = (key: K): boolean => this.listeners.has(key);

  private async read(changed: () => readonly R[] | Promise<readonly R[]>): Promise<void> {
    const rows = await changed();
    const { keyOf, accepts } = this.options.route;
    for (const row of rows) {
      if (keyOf) {
        for (const queue of this.listeners.get(keyOf(row)) ?? []) queue.push(row);
      } else if (accepts) {
        for (const [key, queues] of this.listeners) if (accepts(key, row)) for (const queue of queues) queue.push(row);
      }
    }
  }
}

/**
 * The ids a notification's JSON array names: safe integers (`'number'`) or strings (`'string'`).
 * Anything else, or a payload that is not a JSON array, names none.
 */
export function parseIds(payload: string, kind: 'number'): number[];
export function parseIds(payload: string, kind: 'string'): string[];
export function parseIds(payload: string, kind: 'number' | 'string'): Array<number | string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  if (kind === 'string') return parsed.filter((id): id is string => typeof id === 'string');
  return parsed.map(Number).filter(Number.isSafeInteger);
}
