import type { Core, CoreError, IngestReservation } from '@switchboard/core';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { answerAsWebhookProxy, sendReply } from './compat/webhook-proxy.ts';
import { HTTP_STATUS } from './status.ts';

/**
 * A POST refused before its body has been read in full: an unknown queue (404), a foreign
 * address (403) or no room in the ingest budget (503 with Retry-After). A socket closed while the
 * sender is still writing its body is reset, and the reset discards the answer the sender has not
 * read yet, Retry-After and all. So the rest of the body is always read and dropped before the
 * connection closes: on a connection kept alive the answer goes at once and the connection stays
 * open for the rest of the body (and the next request); on one the sender asked to close (or an
 * HTTP/1.0 one), the answer waits until the body has been read.
 */
class IngestRefusal extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly retryAfterSeconds?: number,
    /** For 405: the methods the queue takes. */
    readonly allow?: string,
  ) {
    super(message);
  }
}

/** Methods a queue may take, when its rules name them; POST otherwise. */
const INGEST_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const refusal = (error: CoreError) =>
  new IngestRefusal(HTTP_STATUS[error.code], error.message, error.retryAfterSeconds ?? undefined);

interface Held {
  reservation: IngestReservation;
  /** Set once the handler runs: from then on the handler releases, after the write settles. */
  handling: boolean;
  /** Whether the connection outlives this exchange, so that a refusal can be answered before the body ends. */
  keepsConnection: boolean;
}

/**
 * `POST /q/:queue`: the bytes are read raw, whatever the content type, because signatures are
 * computed over them. Failures answer with the Webhook Queue's Error object.
 */
export async function registerIngestRoutes(app: FastifyInstance, core: Core, maxBodyBytes: number): Promise<void> {
  const held = new WeakMap<FastifyRequest, Held>();

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (request, payload, done) =>
      readBody(
        request,
        payload,
        {
          limit: maxBodyBytes,
          charge: (bytes) => charge(request, bytes),
          answerAtOnce: held.get(request)?.keepsConnection ?? true,
        },
        done,
      ),
    );

    // The queue and the sender's address are checked in memory before any room is taken, so that
    // a POST nobody will take costs none. Room is then charged as the body's bytes arrive (a socket
    // that declares a length and sends nothing holds nothing), and given back once the write has
    // settled, or when the exchange ends without reaching the handler, or as soon as it is refused.
    scope.addHook<{ Params: { queue: string } }>('preParsing', async (request, reply, payload) => {
      const declared = request.headers['content-length'];
      const bytes = declared === undefined ? 0 : Number(declared);
      // Over the limit (or nonsense), the body parser answers 413 without reading it, whoever sent it.
      if (!Number.isSafeInteger(bytes) || bytes > maxBodyBytes) return payload;
      // Node closes the connection after the answer when the sender asked for that (or spoke HTTP/1.0).
      const keepsConnection = reply.raw.shouldKeepAlive;
      const refuse = async (error: CoreError): Promise<never> => {
        if (!keepsConnection) await drain(payload, maxBodyBytes);
        throw refusal(error);
      };
      const sender = core.ingest.sender(request.params.queue, request.ip);
      if (!sender.ok) return refuse(sender.error);
      if (!sender.value.methods.includes(request.method)) {
        if (!keepsConnection) await drain(payload, maxBodyBytes);
        throw new IngestRefusal(
          405,
          `This queue takes ${sender.value.methods.join(', ')}, not ${request.method}`,
          undefined,
          sender.value.methods.join(', '),
        );
      }
      const admitted = core.ingest.admit(bytes);
      if (!admitted.ok) return refuse(admitted.error);
      const entry: Held = { reservation: admitted.value, handling: false, keepsConnection };
      held.set(request, entry);
      reply.raw.once('close', () => {
        if (!entry.handling) entry.reservation.release();
      });
      return payload;
    });

    function charge(request: FastifyRequest, bytes: number): Error | null {
      const entry = held.get(request);
      if (!entry) return null;
      const more = core.ingest.admitMore(entry.reservation, bytes);
      if (more.ok) return null;
      // What it holds will never be used: others may have it while the rest of this body is dropped.
      entry.reservation.release();
      return refusal(more.error);
    }

    scope.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (error instanceof IngestRefusal) {
        // Fastify asks to close the connection after any failed body read, which would reset a
        // sender still writing; the rest of this body is read and dropped instead (see readBody),
        // and the connection is kept unless the sender asked to close it, by then with the body read.
        reply.header('connection', reply.raw.shouldKeepAlive ? 'keep-alive' : 'close');
        if (error.retryAfterSeconds) reply.header('retry-after', String(error.retryAfterSeconds));
        if (error.allow) reply.header('allow', error.allow);
        return reply.code(error.statusCode).send({ message: error.message, refresh: false });
      }
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const queue = (request.params as { queue?: string }).queue;
        if (queue) {
          await core.ingest
            .recordOversized(queue, {
              headers: request.headers,
              query: request.query as Record<string, string | undefined>,
              sourceIp: request.ip,
            })
            .catch(() => {});
        }
        return reply.code(413).send({ message: `The message is larger than ${maxBodyBytes} bytes`, refresh: false });
      }
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) request.log.error({ err: error }, 'ingest failed');
      return reply.code(status).send({ message: status === 500 ? 'Internal error' : error.message, refresh: false });
    });

    scope.route<{ Params: { queue: string } }>({
      method: [...INGEST_METHODS],
      url: '/q/:queue',
      bodyLimit: maxBodyBytes,
      handler: async (request, reply) => {
        const entry = held.get(request);
        if (entry) entry.handling = true;
        try {
          const queue = core.registry.get(request.params.queue);
          const result = await core.ingest.ingest(request.params.queue, {
            // A queue served at its own path (see server.ts) sees that path, as its sender used it.
            method: request.method,
            path: request.originalUrl.split('?')[0],
            body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
            headers: request.headers,
            query: request.query as Record<string, string | undefined>,
            sourceIp: request.ip,
          });
          if (queue?.dialect === 'webhook-proxy') return answerAsWebhookProxy(reply, result);
          if (result.ok) {
            const { seq, duplicate, actions } = result.value;
            if (actions?.failed)
              return reply.code(500).send({ id: seq, message: `The message was stored; ${actions.failed}` });
            if (actions?.reply) return sendReply(reply, actions.reply);
            return reply.code(200).send(duplicate ? { id: seq, duplicate: true } : { id: seq });
          }
          if (result.error.retryAfterSeconds) reply.header('retry-after', String(result.error.retryAfterSeconds));
          const rule =
            result.error.code === 'CONFLICT' || result.error.code === 'INVALID' ? result.error.fields?.[0] : undefined;
          return reply
            .code(HTTP_STATUS[result.error.code])
            .send({ message: result.error.message, refresh: false, ...(rule ? { rule: rule.path } : {}) });
        } finally {
          entry?.reservation.release();
        }
      },
    });
  });
}

/**
 * The raw body, copied into place chunk by chunk as it arrives. Fastify's own reader gathers the
 * chunks and joins them at the end: for a body of megabytes that one copy holds the event loop
 * for tens of milliseconds, while /healthz and every other request wait. Over `limit` it fails
 * as Fastify's reader does (FST_ERR_CTP_BODY_TOO_LARGE, answered 413). Each chunk is charged to
 * the ingest budget as it arrives; from one that does not fit on, the rest of the body is read and
 * dropped, and the read fails with `charge`'s error: at once when `answerAtOnce` (the connection
 * stays open for the rest), else once the body has ended, so that closing the connection after
 * the answer cannot reset it away.
 */
function readBody(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  options: { limit: number; charge: (bytes: number) => Error | null; answerAtOnce: boolean },
  done: (error: Error | null, body?: Buffer) => void,
): void {
  const { limit, charge } = options;
  const declared =
    request.headers['content-length'] === undefined ? Number.NaN : Number(request.headers['content-length']);
  if (declared > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    return;
  }
  const known = Number.isSafeInteger(declared) && declared >= 0;
  const body = known ? Buffer.allocUnsafe(declared) : null;
  const chunks: Buffer[] = [];
  let received = 0;
  /** Set once a chunk did not fit: what follows is dropped, and this is the answer at the end. */
  let refused: Error | null = null;
  const finish = (error: Error | null, value?: Buffer) => {
    payload.removeListener('data', onData);
    payload.removeListener('end', onEnd);
    payload.removeListener('error', onError);
    done(error, value);
  };
  const onData = (data: Buffer | string) => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (received + chunk.length > limit) return finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    if (body && received + chunk.length > body.length)
      return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    const offset = received;
    received += chunk.length;
    if (refused) return;
    refused = charge(chunk.length);
    if (refused) {
      if (options.answerAtOnce) {
        finish(refused);
        // Nobody listens any more: the rest flows in and is dropped while the connection stays open.
        payload.resume();
      }
      return;
    }
    if (body) chunk.copy(body, offset);
    else chunks.push(chunk);
  };
  const onEnd = () => {
    if (refused) return finish(refused);
    if (body && received !== body.length) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
    finish(null, body ?? Buffer.concat(chunks, received));
  };
  const onError = (error: Error & { statusCode?: number }) => {
    if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
    finish(error);
  };
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onError);
  payload.resume();
}

/**
 * Reads the rest of a refused body and drops it. Settles when the body ends, when the request
 * fails or closes, or once more than `limit` bytes have been dropped: a body past the limit is not
 * waited for.
 */
function drain(payload: NodeJS.ReadableStream & { readableEnded?: boolean }, limit: number): Promise<void> {
  return new Promise((resolve) => {
    if (payload.readableEnded) return resolve();
    let received = 0;
    const settle = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', settle);
      payload.removeListener('error', settle);
      payload.removeListener('close', settle);
      resolve();
    };
    const onData = (chunk: Buffer | string) => {
      received += chunk.length;
      if (received > limit) settle();
    };
    payload.on('data', onData);
    payload.on('end', settle);
    payload.on('error', settle);
    payload.on('close', settle);
    payload.resume();
  });
}
