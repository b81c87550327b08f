import { isUtf8 } from 'node:buffer';
import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import type { ClientId, QueueId, UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { ClientStore } from './client-store.ts';
import { MessageStore } from './message-store.ts';
import { countWithinBytes, renderedLengthBound, renderedLengthCeiling } from './page-bound.ts';
import { QueueStore } from './queue-store.ts';
import type { QueuesService } from './queues-service.ts';

export interface Client {
  id: ClientId;
  userId: UserId;
  name: string;
  queueId: QueueId | null;
  queueName: string;
  cursor: number;
  state: 'connected' | 'disconnected';
  needsRefresh: boolean;
  lastReadAt: Date | null;
  createdAt: Date;
}

export interface StoredMessage {
  queueId: QueueId;
  seq: number;
  body: Buffer;
  contentType: string | null;
  headers: Record<string, string>;
  sourceIp: string | null;
  receivedAt: Date;
}

export type ReadOutcome =
  | { kind: 'messages'; currentSeq: number; messages: StoredMessage[] }
  /**
   * The client missed messages (dropped by a limit, or refused as too large): its cursor now
   * points at the newest message and whatever depends on the stream should be rebuilt.
   */
  | { kind: 'refresh'; currentSeq: number; message: string };

export const MAX_READ = 1000;

/**
 * One message of the Webhook Queue's `MessageList`. `message` is the body as text, as its clients
 * expect; a body that is not valid UTF-8 (checked strictly) cannot be given exactly as text, so
 * it also comes as `message_base64`, which those clients ignore.
 */
export interface MessageListEntry {
  id: number;
  message: string;
  message_base64?: string;
}

export function toMessageListEntry(message: StoredMessage): MessageListEntry {
  const text = message.body.toString('utf8');
  // Rendered in this order: page-bound.ts counts its size as such.
  return isUtf8(message.body)
    ? { id: message.seq, message: text }
    : { id: message.seq, message: text, message_base64: message.body.toString('base64') };
}

/**
 * Body bytes in one page of a read. A page is answered as one JSON document (its bodies as text,
 * escaped, plus base64 for those that are not UTF-8), and a string past V8's limit (about 512 M
 * characters) cannot be built at all; well under that, the rest comes on the next read. A single
 * message over the bound still makes a page.
 */
export const MAX_READ_BYTES = 16 * 1024 * 1024;

/**
 * Characters a message's body may take once rendered (a JSON string, and its base64 when it is
 * not UTF-8: see page-bound.ts). A page of several messages stays under MAX_READ_BYTES of bodies,
 * at most six characters a byte once escaped and 4/3 more as base64, far from V8's limit (about
 * 512 Mi characters); only a message alone in its page can be larger. One that could not be
 * rendered within this (near the largest body ingest accepts, and mostly control characters)
 * is dropped for its size, as the Webhook Queue drops messages over its limits: the client is
 * sent to refresh instead of failing on the same message at every read.
 */
export const MAX_RENDERED_CHARS = 384 * 1024 * 1024;

export interface ReadOptions {
  /** Messages in the page, up to MAX_READ. */
  limit?: number;
  /** Body bytes in the page (MAX_READ_BYTES when left out); the first message is taken whatever its size. */
  maxBytes?: number;
  /** A body's JSON-escaped length past which it is skipped with a refresh (MAX_RENDERED_CHARS when left out). */
  maxRenderedChars?: number;
}

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class ClientsService {
  private readonly store: ClientStore;
  private readonly queues: QueueStore;
  private readonly messages: MessageStore;

  constructor(private readonly deps: { db: Database; clock: Clock; logger: Logger; queues: QueuesService }) {
    this.store = new ClientStore(deps);
    this.queues = new QueueStore(deps);
    this.messages = new MessageStore(deps);
  }

  async list(actor: Principal): Promise<Result<Client[]>> {
    return ok(await this.store.list(actor));
  }

  async get(actor: Principal, name: string): Promise<Result<Client>> {
    const client = await this.store.findByName(actor, name);
    return client ? ok(client) : fail('NOT_FOUND', `You have no client named "${name}"`);
  }

  /**
   * Starts a client at the newest message of the queue. A name in use is refused unless that
   * client is disconnected, in which case it is connected again (to this queue).
   */
  async listen(actor: Principal, name: string, queueName: string): Promise<Result<Client>> {
    if (actor.via === 'system') return fail('FORBIDDEN', 'Clients belong to users; the system actor has none');
    if (!CLIENT_NAME.test(name)) {
      return fail('INVALID', 'A client name is 1 to 128 letters, digits, dots, dashes or underscores');
    }
    const queue = await this.queues.findPosition(queueName);
    if (!queue) return fail('NOT_FOUND', `No queue named "${queueName}"`);
    if (!isAdmin(actor) && !(await this.deps.queues.mayListen(actor.user.id, queue.id))) {
      return fail('FORBIDDEN', `You may not listen to "${queueName}"`);
    }
    const start = { queueId: queue.id, queueName: queue.name, cursor: queue.lastSeq };
    const now = this.deps.clock.now();
    const created = await this.store.insertIfAbsent(actor.user.id, name, start, now);
    if (created) return ok(created);
    const reconnected = await this.store.reconnect(actor.user.id, name, start, now);
    if (reconnected) return ok(reconnected);
    return fail('CONFLICT', `The client "${name}" is already listening; unlisten it first`);
  }

  async unlisten(actor: Principal, name: string): Promise<Result<Client>> {
    const client = await this.store.delete(actor, name);
    return client ? ok(client) : fail('NOT_FOUND', `You have no client named "${name}"`);
  }

  /** Everything after the cursor (up to `limit` messages and MAX_READ_BYTES), then the cursor moves past it. */
  async read(actor: Principal, name: string, limit = MAX_READ): Promise<Result<ReadOutcome>> {
    return this.readAndRender(actor, name, (outcome) => outcome, { limit });
  }

  /**
   * A read whose answer is produced (`render`, e.g. serialised) before the cursor moves, in the
   * same transaction: if producing it fails, the cursor stays and the same page comes next time.
   */
  async readAndRender<T>(
    actor: Principal,
    name: string,
    render: (outcome: ReadOutcome) => T,
    options: ReadOptions = {},
  ): Promise<Result<T>> {
    const pageSize = Math.max(1, Math.min(MAX_READ, Math.floor(options.limit ?? MAX_READ)));
    const maxBytes = options.maxBytes ?? MAX_READ_BYTES;
    const maxRenderedChars = options.maxRenderedChars ?? MAX_RENDERED_CHARS;
    return this.deps.db.transaction(async (tx) => {
      // The row lock makes two concurrent reads of one client take turns instead of both
      // returning the same messages.
      const row = await this.store.lockForRead(tx, actor, name);
      if (!row) return fail<T>('NOT_FOUND', `You have no client named "${name}"`);
      const { client } = row;
      if (client.state === 'disconnected' || client.queueId === null || row.lastSeq === null) {
        return fail<T>(
          'CONFLICT',
          `The client "${name}" is disconnected: its queue "${client.queueName}" is gone or you may no longer listen to it`,
        );
      }
      const now = this.deps.clock.now();
      let missed = client.needsRefresh || client.cursor < (row.droppedThroughSeq ?? 0);
      let page: StoredMessage[] = [];
      let through = client.cursor;
      if (!missed) {
        // Sizes first, without the bodies, to know where the page ends before any body is loaded.
        const sizes = await this.messages.sizes(client.queueId, { after: client.cursor, limit: pageSize }, tx);
        const taken = countWithinBytes(
          sizes.map((row) => row.size),
          maxBytes,
        );
        through = taken === 0 ? client.cursor : Number(sizes[taken - 1]?.seq);
        page = through === client.cursor ? [] : await this.messages.after(client.queueId, client.cursor, through, tx);
        // Scanned only when the most a body of its size could take passes the bound, which few can.
        const [first] = page;
        missed =
          page.length === 1 &&
          first !== undefined &&
          renderedLengthCeiling(first.body.length) > maxRenderedChars &&
          renderedLengthBound(first.body) > maxRenderedChars;
      }
      if (missed) {
        const rendered = render({
          kind: 'refresh',
          currentSeq: row.lastSeq,
          message: 'Messages were dropped before this client read them; refresh any state built from this queue',
        });
        await this.store.moveCursor(tx, client.id, row.lastSeq, now, true);
        return ok(rendered);
      }
      const rendered = render({ kind: 'messages', currentSeq: row.lastSeq, messages: page });
      await this.store.moveCursor(tx, client.id, through, now, false);
      return ok(rendered);
    });
  }
}
