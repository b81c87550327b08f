import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
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

interface Waiter {
  queueId: string;
  wake: () => void;
}

/**
 * Browsing and live streaming of a queue's messages. Sequence numbers commit in order (see
 * MessageWriter), so "everything after the cursor, in order" never skips a message that commits
 * later and never repeats one: a stream that reads after its cursor and moves the cursor to the
 * last message it sent has no gap and no duplicate, across reconnections too.
 */
export class MessageStreams {
  private waiters = new Set<Waiter>();
  private unlisten: (() => Promise<void>) | undefined;
  private readonly store: MessageStore;
  private readonly queueStore: QueueStore;
  private readonly clients: ClientStore;

  constructor(private readonly deps: { db: Database; pubsub: PubSub; logger: Logger; queues: QueuesService }) {
    this.store = new MessageStore(deps);
    this.queueStore = new QueueStore(deps);
    this.clients = new ClientStore(deps);
  }

  /** One LISTEN per process, shared by every subscriber. */
  async start(): Promise<void> {
    this.unlisten = await this.deps.pubsub.listen(CHANNELS.messages, (payload) => {
      let queueId: string | undefined;
      try {
        queueId = (JSON.parse(payload) as { queueId?: string }).queueId;
      } catch {
        return;
      }
      for (const waiter of this.waiters) if (waiter.queueId === queueId) waiter.wake();
    });
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const waiter of this.waiters) waiter.wake();
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
  async pageOf(queueId: string, args: PageArgs): Promise<MessagePage> {
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
  ): Promise<Result<{ queueId: string; start: number }>> {
    const queue = await this.deps.queues.getByName(actor, queueName);
    if (!queue.ok) return queue;
    return ok({ queueId: queue.value.id, start: after ?? queue.value.lastSeq });
  }

  /** A client's queue, from `after` or else from the client's cursor; the stored cursor is not moved. */
  async openClientStream(
    actor: Principal,
    clientName: string,
    after: number | undefined,
  ): Promise<Result<{ queueId: string; start: number }>> {
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
  async *follow(queueId: string, start: number, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    let cursor = start;
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
      // Registered before reading, so that a commit landing between the read and the wait still wakes us.
      const wakeup = this.waitForNews(queueId, signal);
      const { messages: batch, truncated } = await this.pageOf(queueId, { after: cursor, limit: STREAM_BATCH });
      for (const message of batch) {
        if (signal.aborted) break;
        cursor = message.seq;
        yield { kind: 'message', message };
      }
      if (batch.length === STREAM_BATCH || truncated) {
        wakeup.cancel();
        continue;
      }
      await wakeup.promise;
    }
  }

  private waitForNews(queueId: string, signal: AbortSignal): { promise: Promise<void>; cancel: () => void } {
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (waiter) this.waiters.delete(waiter);
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    let resolveIt: () => void = () => {};
    const onAbort = () => resolveIt();
    const promise = new Promise<void>((resolve) => {
      resolveIt = () => {
        cleanup();
        resolve();
      };
      waiter = { queueId, wake: resolveIt };
      this.waiters.add(waiter);
      timer = setTimeout(resolveIt, IDLE_RECHECK_MS);
      signal.addEventListener('abort', onAbort);
    });
    return { promise, cancel: () => resolveIt() };
  }
}
