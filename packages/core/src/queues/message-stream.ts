import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
import { parseId, type QueueId } from '../shared/ids.ts';
import { LiveFeed } from '../shared/live-feed.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { ClientStore } from './client-store.ts';
import { MAX_READ_BYTES, type StoredMessage } from './clients-service.ts';
import { MessageStore } from './message-store.ts';
import { countWithinBytes } from './page-bound.ts';
import { QueueStore } from './queue-store.ts';
import type { QueuesService } from './queues-service.ts';

export type StreamEvent =
  | { kind: 'message'; message: StoredMessage }
  /** The subscriber's position fell behind the queue's limits: messages were dropped unseen. */
  | { kind: 'refresh'; currentSeq: number; message: string };

export interface PageArgs {
  after?: number | undefined;
  before?: number | undefined;
  limit: number;
  /** Newest first (a `last` page). */
  inverted?: boolean;
}

export interface MessagePage {
  messages: StoredMessage[];
  /** Fewer than `limit` because of the byte bound: more messages follow in the page's direction. */
  truncated: boolean;
}

/** How long a caught-up stream waits for a notification before looking anyway. */
const IDLE_RECHECK_MS = 15_000;
const STREAM_BATCH = 500;

/**
 * Browsing and live streaming of a queue's messages. Sequence numbers commit in order (see
 * MessageWriter), so "everything after the cursor, in order" never skips a message that commits
 * later and never repeats one: a stream that reads after its cursor and moves the cursor to the
 * last message it sent has no gap and no duplicate, across reconnections too.
 */
export class MessageStreams {
  /** Tells each stream of a queue that it has new messages: the queue's id. */
  private readonly news: LiveFeed<QueueId, QueueId>;
  private readonly store: MessageStore;
  private readonly queueStore: QueueStore;
  private readonly clients: ClientStore;

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; queues: QueuesService }) {
    this.store = new MessageStore(deps);
    this.queueStore = new QueueStore(deps);
    this.clients = new ClientStore(deps);
    this.news = new LiveFeed({
      pubsub: deps.pubsub,
      logger: deps.logger,
      name: 'message notifications',
      channels: [{ channel: CHANNELS.messages, changed: queueOf }],
      route: { keyOf: (queueId) => queueId },
      // One pending notice is as good as many: the stream reads everything after its cursor.
      buffer: 1,
    });
  }

  /** One LISTEN per process, shared by every subscriber. */
  start(): Promise<void> {
    return this.news.start();
  }

  async stop(): Promise<void> {
    await this.news.stop();
    this.news.lookAgain();
  }

  /** A page of a queue's messages, for admins and the queue's listeners. */
  async page(actor: Principal, queueName: string, args: PageArgs): Promise<Result<MessagePage>> {
    const queue = await this.deps.queues.getByName(actor, queueName);
    if (!queue.ok) return queue;
    return ok(await this.pageOf(queue.value.id, args));
  }

  /**
   * Up to `limit` messages and MAX_READ_BYTES of bodies (at least one message): a page of large
   * messages is never loaded, nor answered, whole. Sizes are read first, without the bodies.
   */
  async pageOf(queueId: QueueId, args: PageArgs): Promise<MessagePage> {
    const sizes = await this.store.sizes(queueId, {
      after: args.after,
      before: args.before,
      limit: args.limit,
      newestFirst: args.inverted,
    });
    const taken = countWithinBytes(
      sizes.map((row) => row.size),
      MAX_READ_BYTES,
    );
    if (taken === 0) return { messages: [], truncated: false };
    const ends = [Number(sizes[0]?.seq), Number(sizes[taken - 1]?.seq)];
    const page = await this.store.range(queueId, Math.min(...ends), Math.max(...ends), args.inverted ?? false);
    return { messages: page, truncated: taken < sizes.length };
  }

  /** Resolves who may stream what, before the stream starts, so that refusals are plain errors. */
  async openQueueStream(
    actor: Principal,
    queueName: string,
    after: number | undefined,
  ): Promise<Result<{ queueId: QueueId; start: number }>> {
    const queue = await this.deps.queues.getByName(actor, queueName);
    if (!queue.ok) return queue;
    return ok({ queueId: queue.value.id, start: after ?? queue.value.lastSeq });
  }

  /** A client's queue, from `after` or else from the client's cursor; the stored cursor is not moved. */
  async openClientStream(
    actor: Principal,
    clientName: string,
    after: number | undefined,
  ): Promise<Result<{ queueId: QueueId; start: number }>> {
    const client = await this.clients.findStreamStart(actor, clientName);
    if (!client) return fail('NOT_FOUND', `You have no client named "${clientName}"`);
    if (client.state !== 'connected' || !client.queueId) {
      return fail('CONFLICT', `The client "${clientName}" is disconnected`);
    }
    if (!isAdmin(actor) && !(await this.deps.queues.mayListen(actor.user.id, client.queueId))) {
      return fail('FORBIDDEN', 'You may no longer listen to this queue');
    }
    return ok({ queueId: client.queueId, start: after ?? client.cursor });
  }

  /** The backlog after `start`, then live messages, until `signal` aborts. */
  async *follow(queueId: QueueId, start: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    let cursor = start;
    // Each notice (the first comes at once, the next ones with news or after a quiet while) has the
    // stream read what follows its cursor. Notices are registered before reading, so that a commit
    // landing during a read still has the stream read once more.
    const notices = this.news.follow(queueId, signal, { current: async () => queueId, recheckMs: IDLE_RECHECK_MS });
    for await (const _ of notices) {
      while (!signal.aborted) {
        const queue = await this.queueStore.position(queueId);
        if (!queue) return;
        if (cursor < queue.droppedThroughSeq) {
          cursor = queue.lastSeq;
          yield {
            kind: 'refresh',
            currentSeq: cursor,
            message: 'Messages were dropped before this stream sent them; refresh any state built from this queue',
          };
          continue;
        }
        const { messages: batch, truncated } = await this.pageOf(queueId, { after: cursor, limit: STREAM_BATCH });
        for (const message of batch) {
          if (signal.aborted) break;
          cursor = message.seq;
          yield { kind: 'message', message };
        }
        if (batch.length < STREAM_BATCH && !truncated) break;
      }
    }
  }
}

/** The queue a `switchboard_messages` notification names. */
function queueOf(payload: string): QueueId[] {
  try {
    const { queueId } = JSON.parse(payload) as { queueId?: unknown };
    const id = typeof queueId === 'string' ? parseId<QueueId>(queueId) : null;
    return id ? [id] : [];
  } catch {
    return [];
  }
}
