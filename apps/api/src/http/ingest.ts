import type { Core } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { HTTP_STATUS } from './status.ts';

/**
 * `POST /q/:queue`: the bytes are read raw, whatever the content type, because signatures are
 * computed over them. Failures answer with the Webhook Queue's Error object.
 */
export async function registerIngestRoutes(app: FastifyInstance, core: Core, maxBodyBytes: number): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_request, body, done) =>
      done(null, body),
    );

    scope.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const queue = (request.params as { queue?: string }).queue;
        if (queue && core.registry.get(queue)?.isAllowed(request.ip))
          await core.ingest.recordOversized(queue).catch(() => {});
        return reply.code(413).send({ message: `The message is larger than ${maxBodyBytes} bytes`, refresh: false });
      }
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) request.log.error({ err: error }, 'ingest failed');
      return reply.code(status).send({ message: status === 500 ? 'Internal error' : error.message, refresh: false });
    });

    scope.post<{ Params: { queue: string } }>('/q/:queue', { bodyLimit: maxBodyBytes }, async (request, reply) => {
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
    });
  });
}
