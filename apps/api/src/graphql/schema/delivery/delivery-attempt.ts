import type { DeliveryAttempt } from '@switchboard/core';
import { builder } from '../../builder.ts';
import { HeaderRef } from '../queue/message.ts';

export const DeliveryAttemptRef = builder.objectRef<DeliveryAttempt>('DeliveryAttempt').implement({
  description: 'One try of a delivery, with what the receiver answered.',
  fields: (t) => ({
    id: t.exposeID('id'),
    number: t.exposeInt('number', { description: '1 for the first attempt; retries and recoveries count on.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    durationMs: t.exposeInt('durationMs'),
    statusCode: t.exposeInt('statusCode', {
      nullable: true,
      description: 'Null when no response came (timeout, refused connection, blocked address).',
    }),
    responseHeaders: t.field({
      type: [HeaderRef],
      nullable: true,
      resolve: (a) => (a.responseHeaders ? Object.entries(a.responseHeaders) : null),
    }),
    responseBody: t.string({
      nullable: true,
      description:
        'The response body as UTF-8 text (bytes that are not UTF-8 are replaced); see responseBodyBase64 for the exact bytes.',
      resolve: (a) => a.responseBody?.toString('utf8') ?? null,
    }),
    responseBodyBase64: t.string({ nullable: true, resolve: (a) => a.responseBody?.toString('base64') ?? null }),
    responseTruncated: t.exposeBoolean('responseTruncated', {
      description: 'Only the start of a long response body is kept.',
    }),
    error: t.exposeString('error', { nullable: true }),
    succeeded: t.exposeBoolean('succeeded'),
  }),
});
