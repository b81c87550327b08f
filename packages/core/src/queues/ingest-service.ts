import { createHash } from 'node:crypto';
import type { Database } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { ClaimedRun } from './actions/action-run-store.ts';
import { ClientStore } from './client-store.ts';
import type { IngestBudget, IngestReservation } from './ingest-budget.ts';
import type { InlineActions, Reply } from './inline-actions.ts';
import type { MessageWriter, WrittenMessage } from './message-writer.ts';
import type { CompiledQueue, QueueRegistry } from './queue-registry.ts';
import { RejectedStore } from './rejected-store.ts';
import type { RuleFailure } from './rules/rules.ts';
import type { VerificationMethod } from './verification/types.ts';
import { verifyInbound } from './verification/verify.ts';

export interface IngestRequest {
  /** The request's method and path as the sender used them (`/github` for a queue served at its own path). */
  method?: string;
  path?: string;
  body: Buffer;
  /** Lower-case names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string | undefined>;
  sourceIp: string | undefined;
}

export interface IngestServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  registry: QueueRegistry;
  writer: MessageWriter;
  budget: IngestBudget;
  /** Runs the actions of a queue that answers after them; without it such queues answer at once. */
  inline?: InlineActions;
  /** This process's action runner, which takes the runs of messages stored here without a claim. */
  runner?: LocalRunner;
}

/** What ingest needs of the action runner to hand it a run (see ActionRunner.adopt). */
export interface LocalRunner {
  readonly leaseMs: number;
  tryReserve(): boolean;
  release(): void;
  adopt(run: ClaimedRun): void;
}

/** What ingest answered a message that was stored. */
export interface IngestOutcome extends WrittenMessage {
  /** For a queue that answers after its actions: how they went, and the answer they make. */
  actions: { failed: string | null; reply: Reply | null } | null;
}

/** Seconds a sender refused for want of room is asked to wait: a burst's writes settle in about that. */
const BUSY_RETRY_AFTER_SECONDS = 1;

/** Verification methods that do not read the body, so that they can judge a body never read. */
const BODILESS_VERIFICATION = new Set<VerificationMethod>(['none', 'token', 'basic']);

/** Headers that carry a caller's credentials are never stored with the message. */
const NEVER_STORED = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * `POST /q/:queue`: find, check the address, the size and the signature, then store. Each
 * refusal is a distinct code so that the route can answer 404, 403, 413, 401 or 503.
 */
export class IngestService {
  private readonly clients: ClientStore;
  private readonly rejections: RejectedStore;

  constructor(private readonly deps: IngestServiceDeps) {
    this.clients = new ClientStore(deps);
    this.rejections = new RejectedStore(deps.db);
  }

  /** Bytes of bodies admitted and not yet settled in this process. */
  get bytesInFlight(): number {
    return this.deps.budget.inFlight;
  }

  /**
   * The queue a sender may post to, looked up in memory before any of the body is read: an
   * unknown queue or a foreign address is refused without taking room in the budget.
   */
  sender(queueName: string, sourceIp: string | undefined): Result<CompiledQueue> {
    const queue = this.deps.registry.get(queueName);
    if (!queue) return fail('NOT_FOUND', `No queue named "${queueName}"`);
    if (!queue.isAllowed(sourceIp)) {
      this.deps.logger.warn({ queue: queue.name, ip: sourceIp }, 'ingest refused: address not allowed');
      return fail('FORBIDDEN', 'This address may not post to this queue');
    }
    return ok(queue);
  }

  /**
   * Room for a body expected to be `expectedBytes` long (its declared length, or 0 when none is
   * declared). Nothing is held yet: the reservation is charged with `admitMore` as bytes arrive,
   * so a socket that declares a length and sends nothing holds nothing. Refused as UNAVAILABLE,
   * with a time to retry, when the bytes already in flight leave no room for it now; the sender is
   * spared sending a body that would be refused midway.
   */
  admit(expectedBytes: number): Result<IngestReservation> {
    if (!this.deps.budget.fits(expectedBytes)) return busy();
    const reservation = this.deps.budget.reserve(0);
    return reservation ? ok(reservation) : busy();
  }

  /** Room for the next `bytes` of a body as they arrive, refused like `admit`. */
  admitMore(reservation: IngestReservation, bytes: number): Result<void> {
    return reservation.grow(bytes) ? ok(undefined) : busy();
  }

  async ingest(queueName: string, request: IngestRequest): Promise<Result<IngestOutcome>> {
    const found = this.sender(queueName, request.sourceIp);
    if (!found.ok) return found;
    const queue = found.value;
    // Verified before the size is judged: only a genuine message that is too large means the
    // queue's clients missed something, so only that one sends them to refresh.
    const headers = flattenHeaders(request.headers);
    const verified = verifyInbound(
      queue.verification,
      { body: request.body, headers, query: request.query },
      this.deps.clock,
    );
    if (!verified.ok) {
      this.deps.logger.warn({ queue: queue.name, ip: request.sourceIp, reason: verified.reason }, 'ingest refused');
      return fail('UNAUTHENTICATED', `Verification failed: ${verified.reason}`);
    }
    if (queue.maxMessageSize !== null && request.body.length > queue.maxMessageSize) {
      await this.recordRefusedMessage(queue).catch((err) =>
        this.deps.logger.error({ err, queue: queue.name }, 'could not mark clients for refresh'),
      );
      return fail('TOO_LARGE', `The message is larger than this queue's limit of ${queue.maxMessageSize} bytes`);
    }
    const refused = await this.checkRules(queue, request, headers);
    if (refused) return refused;
    const actions = queue.actions.ok ? queue.actions.value : [];
    const inline = queue.respond === 'after-actions' && this.deps.inline !== undefined;
    const method = (request.method ?? 'POST').toUpperCase();
    const path = request.path ?? `/q/${queue.name}`;
    const requestLine = { method, path, query: definedOnly(request.query) };
    const runActions = !inline && (actions.length > 0 || !queue.actions.ok);
    const kept = storedHeaders(headers, queue);
    const receivedAt = this.deps.clock.now();
    // The run goes to this process's runner when it has room, written already claimed for it.
    const handOver = runActions && this.deps.runner?.tryReserve() === true;
    let written: WrittenMessage;
    try {
      written = await this.deps.writer.write({
        queueId: queue.id,
        body: request.body,
        contentType: headers['content-type'] ?? null,
        headers: kept,
        sourceIp: request.sourceIp ?? null,
        receivedAt,
        dedupKey: dedupKeyFor(queue, request.body, headers),
        request: actions.length > 0 || !queue.actions.ok ? requestLine : null,
        runActions,
        runLeaseUntil: handOver && this.deps.runner ? new Date(receivedAt.getTime() + this.deps.runner.leaseMs) : null,
      });
    } catch (error) {
      if (handOver) this.deps.runner?.release();
      this.deps.logger.error({ err: error, queue: queue.name }, 'ingest could not store the message');
      return fail('UNAVAILABLE', 'The message could not be stored; try again', { retryAfterSeconds: 5 });
    }
    if (handOver && this.deps.runner) {
      if (written.duplicate) this.deps.runner.release();
      else
        this.deps.runner.adopt({
          queueId: queue.id,
          seq: written.seq,
          position: 0,
          attempts: 1,
          context: {},
          body: request.body,
          headers: kept,
          sourceIp: request.sourceIp ?? null,
          request: requestLine,
        });
    }
    if (!inline || written.duplicate || !this.deps.inline) return ok({ ...written, actions: null });
    const ran = await this.deps.inline.run(queue, written.seq, {
      method,
      path,
      query: requestLine.query,
      headers: kept,
      body: request.body,
      remoteAddress: request.sourceIp ?? null,
    });
    return ok({ ...written, actions: ran });
  }

  /**
   * The queue's rules, after verification: a request they refuse is not stored (or kept among the
   * queue's rejections when it asks), and is told which rule and field refused it.
   */
  private async checkRules(
    queue: CompiledQueue,
    request: IngestRequest,
    headers: Record<string, string>,
  ): Promise<Result<never> | null> {
    if (!queue.rules.ok) return queue.rules;
    const rules = queue.rules.value;
    if (!rules) return null;
    // Only body rules read the JSON: a queue whose rules look at headers alone never parses it.
    const json = rules.needsJson ? parseJson(request.body) : undefined;
    let failure: RuleFailure | null;
    // webhook-proxy refuses a request without a JSON payload when it has body rules (`400 No payload`);
    // like Flask's `not request.json`, an empty object or list is no payload.
    if (rules.needsJson && !isPayload(json)) {
      failure = { rule: 'body', field: '(body)', message: 'the body is not a JSON payload, and the rules read it' };
      const refusal = fail<never>('INVALID', `No payload: ${failure.message}`, {
        fields: [{ path: failure.rule, message: failure.message }],
      });
      await this.keepRejection(queue, request, headers, failure);
      return refusal;
    }
    failure = rules.check({
      method: (request.method ?? 'POST').toUpperCase(),
      headers,
      json,
      sourceIp: request.sourceIp,
    });
    if (!failure) return null;
    this.deps.logger.warn({ queue: queue.name, rule: failure.rule, field: failure.field }, 'ingest refused by a rule');
    await this.keepRejection(queue, request, headers, failure);
    return fail('CONFLICT', `Refused by the rule ${failure.rule}: ${failure.message}`, {
      fields: [{ path: failure.rule, message: failure.message }],
    });
  }

  private async keepRejection(
    queue: CompiledQueue,
    request: IngestRequest,
    headers: Record<string, string>,
    failure: RuleFailure,
  ): Promise<void> {
    if (queue.rejected !== 'store') return;
    await this.rejections
      .insert(queue.id, {
        receivedAt: this.deps.clock.now(),
        method: (request.method ?? 'POST').toUpperCase(),
        path: request.path ?? `/q/${queue.name}`,
        headers: storedHeaders(headers, queue),
        body: request.body,
        sourceIp: request.sourceIp ?? null,
        rule: failure.rule,
        field: failure.field,
        reason: failure.message,
      })
      .catch((error) => this.deps.logger.error({ err: error, queue: queue.name }, 'could not keep a refused request'));
  }

  /**
   * Over the global body limit the HTTP layer refuses before the body is read, and reports the
   * refusal here. Only a message the queue would have believed sends its clients to refresh: a
   * sender anyone can imitate must not make every reader skip what it has not read yet. Without
   * the body, a signature over it cannot be checked, so on a queue verified by signature nothing
   * changes. A queue whose check does not involve the body (a shared token, HTTP Basic) checks it
   * as usual. A queue with no verification believes every sender its address list lets in: such
   * a sender could as well post messages that push the unread ones past the queue's limits, so an
   * oversized message there is as genuine as any and its clients refresh.
   */
  async recordOversized(queueName: string, request: Omit<IngestRequest, 'body'>): Promise<void> {
    const queue = this.deps.registry.get(queueName);
    if (!queue?.isAllowed(request.sourceIp)) return;
    if (!BODILESS_VERIFICATION.has(queue.verification.method)) {
      this.deps.logger.warn(
        { queue: queue.name },
        'ingest refused: message too large and unverifiable; clients left alone',
      );
      return;
    }
    const verified = verifyInbound(
      queue.verification,
      { body: Buffer.alloc(0), headers: flattenHeaders(request.headers), query: request.query },
      this.deps.clock,
    );
    if (!verified.ok) {
      this.deps.logger.warn({ queue: queue.name, ip: request.sourceIp, reason: verified.reason }, 'ingest refused');
      return;
    }
    await this.recordRefusedMessage(queue);
  }

  private async recordRefusedMessage(queue: CompiledQueue): Promise<void> {
    this.deps.logger.warn({ queue: queue.name }, 'ingest refused: message too large; clients will refresh');
    await this.clients.markNeedsRefresh(queue.id);
  }
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** What Python counts as a payload: `not request.json` holds for null, {}, [], 0, false and "". */
function isPayload(json: unknown): boolean {
  if (json === undefined || json === null || json === false || json === 0 || json === '') return false;
  if (Array.isArray(json)) return json.length > 0;
  if (typeof json === 'object') return Object.keys(json).length > 0;
  return true;
}

function definedOnly(query: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) if (value !== undefined) out[key] = value;
  return out;
}

function busy<T>(): Result<T> {
  return fail('UNAVAILABLE', 'Too many messages are being stored at the moment; try again shortly', {
    retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
  });
}

function flattenHeaders(headers: IngestRequest['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

function storedHeaders(headers: Record<string, string>, queue: CompiledQueue): Record<string, string> {
  const secretHeader =
    queue.verification.method === 'token' ? (queue.verification.header ?? 'x-webhook-token').toLowerCase() : null;
  const stored: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!NEVER_STORED.has(name) && name !== secretHeader) stored[name] = value;
  }
  return stored;
}

function dedupKeyFor(queue: CompiledQueue, body: Buffer, headers: Record<string, string>): string | null {
  if (!queue.dedup) return null;
  if ('header' in queue.dedup) return headers[queue.dedup.header] || null;
  return createHash('sha256').update(body).digest('hex');
}
