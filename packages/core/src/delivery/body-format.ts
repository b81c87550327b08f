/**
 * The body a subscription receives. `standard` sends the event's stored envelope (`type`,
 * `timestamp`, `data`) byte for byte. `webhook-test` sends the Webhook test tool's shape, which
 * its subscribers read: `id` (the event's id), `event` (its type), `time` (Unix seconds, as a
 * string) and `payload` (the published payload). Either way every attempt sends the same bytes.
 */
export const BODY_FORMATS = ['standard', 'webhook-test'] as const;
export type BodyFormat = (typeof BODY_FORMATS)[number];

export function formatBody(format: BodyFormat, event: { id: string; body: Buffer }): Buffer {
  if (format !== 'webhook-test') return event.body;
  const envelope = JSON.parse(event.body.toString('utf8')) as { type: string; timestamp: string; data: unknown };
  const time = String(Math.floor(Date.parse(envelope.timestamp) / 1000));
  return Buffer.from(JSON.stringify({ id: event.id, event: envelope.type, time, payload: envelope.data }));
}
