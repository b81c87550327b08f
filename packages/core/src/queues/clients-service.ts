import { isUtf8 } from 'node:buffer';
import { clients, type Database, messages, queues } from '@switchboard/db';
import { and, asc, eq, gt, lte, sql } from 'drizzle-orm';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { countWithinBytes, renderedLengthBound, renderedLengthCeiling } from './page-bound.ts';
import type { QueuesService } from './queues-service.ts';

export interface Client {
  id: string;
  userId: string;
  name: string;
  queueId: string | null;
  queueName: string;
  cursor: number;
  state: 'connected' | 'disconnected';
  needsRefresh: boolean;
  lastReadAt: Date | null;
  createdAt: Date;
}

export interface StoredMessage {
  queueId: string;
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

const clientColumns = {
  id: clients.id,
  userId: clients.userId,
  name: clients.name,
  queueId: clients.queueId,
  queueName: clients.queueName,
  cursor: clients.cursor,
  state: clients.state,
  needsRefresh: clients.needsRefresh,
  lastReadAt: clients.lastReadAt,
  createdAt: clients.createdAt,
};

export const messageColumns = {
  queueId: messages.queueId,
  seq: messages.seq,
  body: messages.body,
  contentType: messages.contentType,
  headers: messages.headers,
  sourceIp: messages.sourceIp,
  receivedAt: messages.receivedAt,
};

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class ClientsService {
  constructor(private readonly deps: { db: Database; clock: Clock; logger: Logger; queues: QueuesService }) {}

  async list(actor: Principal): Promise<Result<Client[]>> {
    const rows = await this.deps.db
      .select(clientColumns)
      .from(clients)
      .where(eq(clients.userId, actor.user.id))
      .orderBy(asc(clients.name));
    return ok(rows);
  }

  async get(actor: Principal, name: string): Promise<Result<Client>> {
    const [row] = await this.deps.db
      .select(clientColumns)
      .from(clients)
      .where(and(eq(clients.userId, actor.user.id), eq(clients.name, name)));
    return row ? ok(row) : fail('NOT_FOUND', `You have no client named "${name}"`);
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
    const [queue] = await this.deps.db
      .select({ id: queues.id, name: queues.name, lastSeq: queues.lastSeq })
      .from(queues)
      .where(eq(queues.name, queueName));
    if (!queue) return fail('NOT_FOUND', `No queue named "${queueName}"`);
    if (!isAdmin(actor) && !(await this.deps.queues.mayListen(actor.user.id, queue.id))) {
      return fail('FORBIDDEN', `You may not listen to "${queueName}"`);
    }
    const values = {
      queueId: queue.id,
      queueName: queue.name,
      cursor: queue.lastSeq,
      state: 'connected' as const,
      needsRefresh: false,
      updatedAt: this.deps.clock.now(),
    };
    const [created] = await this.deps.db
      .insert(clients)
      .values({ userId: actor.user.id, name, ...values })
      .onConflictDoNothing()
      .returning(clientColumns);
    if (created) return ok(created);
    const [reconnected] = await this.deps.db
      .update(clients)
      .set(values)
      .where(and(eq(clients.userId, actor.user.id), eq(clients.name, name), eq(clients.state, 'disconnected')))
      .returning(clientColumns);
    if (reconnected) return ok(reconnected);
    return fail('CONFLICT', `The client "${name}" is already listening; unlisten it first`);
  }

  async unlisten(actor: Principal, name: string): Promise<Result<Client>> {
    const [row] = await this.deps.db
      .delete(clients)
      .where(and(eq(clients.userId, actor.user.id), eq(clients.name, name)))
      .returning(clientColumns);
    return row ? ok(row) : fail('NOT_FOUND', `You have no client named "${name}"`);
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
      const [row] = await tx
        .select({ client: clientColumns, lastSeq: queues.lastSeq, droppedThroughSeq: queues.droppedThroughSeq })
        .from(clients)
        .leftJoin(queues, eq(queues.id, clients.queueId))
        .where(and(eq(clients.userId, actor.user.id), eq(clients.name, name)))
        .for('update', { of: clients });
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
        const sizes = await tx
          .select({ seq: messages.seq, size: sql<number | string>`octet_length(${messages.body})` })
          .from(messages)
          .where(and(eq(messages.queueId, client.queueId), gt(messages.seq, client.cursor)))
          .orderBy(asc(messages.seq))
          .limit(pageSize);
        const taken = countWithinBytes(
          sizes.map((row) => Number(row.size)),
          maxBytes,
        );
        through = taken === 0 ? client.cursor : Number(sizes[taken - 1]?.seq);
        page =
          through === client.cursor
            ? []
            : await tx
                .select(messageColumns)
                .from(messages)
                .where(
                  and(
                    eq(messages.queueId, client.queueId),
                    gt(messages.seq, client.cursor),
                    lte(messages.seq, through),
                  ),
                )
                .orderBy(asc(messages.seq));
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
        await tx
          .update(clients)
          .set({ cursor: row.lastSeq, needsRefresh: false, lastReadAt: now })
          .where(eq(clients.id, client.id));
        return ok(rendered);
      }
      const rendered = render({ kind: 'messages', currentSeq: row.lastSeq, messages: page });
      await tx.update(clients).set({ cursor: through, lastReadAt: now }).where(eq(clients.id, client.id));
      return ok(rendered);
    });
  }
}
