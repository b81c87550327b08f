import { pipeline, Transform } from 'node:stream';
import type { Core, CoreError, IngestReservation } from '@switchboard/core';
import { errorCodes, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HTTP_STATUS } from './status.ts';

const busyError = (error: CoreError) => new IngestBusyError(error.message, error.retryAfterSeconds ?? 1);

/** A body refused for want of room in the ingest budget; answered 503 with Retry-After. */
class IngestBusyError extends Error {
  readonly statusCode = 503;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

interface Held {
  reservation: IngestReservation;
  /** Set once the handler runs: from then on the handler releases, after the write settles. */
  handling: boolean;
}

/**
 * `POST /q/:queue`: the bytes are read raw, whatever the content type, because signatures are
 * computed over them. Failures answer with the Webhook Queue's Error object.
 */
export async function registerIngestRoutes(app: FastifyInstance, core: Core, maxBodyBytes: number): Promise<void> {
  const held = new WeakMap<FastifyRequest, Held>();

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (request, payload, done) => readBody(request, payload, maxBodyBytes, done));

    // Room for the body is taken before a byte of it is read: on its declared length, or chunk
    // by chunk for a body sent without one. It is given back once the write has settled, or when
    // the exchange ends without reaching the handler.
    scope.addHook('preParsing', async (request, reply, payload) => {
      const declared = request.headers['content-length'];
      if (declared !== undefined) {
        const bytes = Number(declared);
        // Over the limit (or nonsense), the body parser answers 413 without reading it.
        if (!Number.isSafeInteger(bytes) || bytes > maxBodyBytes) return payload;
        hold(request, reply, admit(bytes));
        return payload;
      }
      const entry = hold(request, reply, admit(0));
      const counted = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          const more = core.ingest.admitMore(entry.reservation, chunk.length);
          callback(more.ok ? null : busyError(more.error), chunk);
        },
      });
      // pipeline (not pipe) so that a sender that goes away fails the read instead of stalling it.
      return pipeline(payload, counted, () => {});
    });

    function admit(bytes: number): IngestReservation {
      const admitted = core.ingest.admit(bytes);
      if (!admitted.ok) throw busyError(admitted.error);
      return admitted.value;
    }

    function hold(request: FastifyRequest, reply: FastifyReply, reservation: IngestReservation): Held {
      const entry: Held = { reservation, handling: false };
      held.set(request, entry);
      reply.raw.once('close', () => {
        if (!entry.handling) reservation.release();
      });
      return entry;
    }

    scope.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (error instanceof IngestBusyError) {
        reply.header('retry-after', String(error.retryAfterSeconds));
        // The body is not wanted: closing spares reading (and discarding) the rest of it.
        reply.header('connection', 'close');
        return reply.code(503).send({ message: error.message, refresh: false });
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

    scope.post<{ Params: { queue: string } }>('/q/:queue', { bodyLimit: maxBodyBytes }, async (request, reply) => {
      const entry = held.get(request);
      if (entry) entry.handling = true;
      try {
        const result = await core.ingest.ingest(request.params.queue, {
          body: (request.body as Buffer | undefined) ?? Buffer.alloc(0),
          headers: request.headers,
          query: request.query as Record<string, string | undefined>,
          sourceIp: request.ip,
        });
        if (result.ok) {
          return reply
            .code(200)
            .send(result.value.duplicate ? { id: result.value.seq, duplicate: true } : { id: result.value.seq });
        }
        if (result.error.retryAfterSeconds) reply.header('retry-after', String(result.error.retryAfterSeconds));
        return reply.code(HTTP_STATUS[result.error.code]).send({ message: result.error.message, refresh: false });
      } finally {
        entry?.reservation.release();
      }
    });
  });
}

/**
 * The raw body, copied into place chunk by chunk as it arrives. Fastify's own reader gathers the
 * chunks and joins them at the end: for a body of megabytes that one copy holds the event loop
 * for tens of milliseconds, while /healthz and every other request wait. Over `limit` it fails
 * as Fastify's reader does (FST_ERR_CTP_BODY_TOO_LARGE, answered 413).
 */
function readBody(
  request: FastifyRequest,
  payload: NodeJS.ReadableStream,
  limit: number,
  done: (error: Error | null, body?: Buffer) => void,
): void {
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
    if (body) chunk.copy(body, received);
    else chunks.push(chunk);
    received += chunk.length;
  };
  const onEnd = () => {
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
