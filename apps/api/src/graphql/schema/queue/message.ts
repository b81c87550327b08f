import type { StoredMessage } from '@switchboard/core';
import { builder } from '../../builder.ts';

export const HeaderRef = builder.objectRef<[string, string]>('Header').implement({
  fields: (t) => ({
    name: t.string({ resolve: ([name]) => name }),
    value: t.string({ resolve: ([, value]) => value }),
  }),
});

export const MessageRef = builder.objectRef<StoredMessage>('Message').implement({
  description: 'One inbound webhook, exactly as received.',
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: "1, 2, 3... within the queue, in commit order: a reader's cursor." }),
    body: t.string({
      description:
        'The body as UTF-8 text (bytes that are not UTF-8 are replaced); see bodyBase64 for the exact bytes.',
      resolve: (m) => m.body.toString('utf8'),
    }),
    bodyBase64: t.string({ description: 'The exact bytes received.', resolve: (m) => m.body.toString('base64') }),
    size: t.int({ resolve: (m) => m.body.length }),
    contentType: t.exposeString('contentType', { nullable: true }),
    headers: t.field({ type: [HeaderRef], resolve: (m) => Object.entries(m.headers) }),
    sourceIp: t.exposeString('sourceIp', { nullable: true }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime' }),
  }),
});

export const RefreshSignalRef = builder.objectRef<{ currentSeq: number; message: string }>('RefreshSignal').implement({
  description:
    'Messages were dropped (by a limit, or refused as too large) before they reached you: rebuild any state that depends on this queue. Reading continues from `currentSeq`.',
  fields: (t) => ({
    currentSeq: t.exposeInt('currentSeq'),
    message: t.exposeString('message'),
  }),
});

export const MessageStreamEvent = builder.unionType('MessageStreamEvent', {
  types: [MessageRef, RefreshSignalRef],
  resolveType: (event) => ('seq' in event ? MessageRef : RefreshSignalRef),
});
