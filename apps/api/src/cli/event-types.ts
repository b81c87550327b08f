import { type EventType, systemPrincipal } from '@switchboard/core';
import type { Command } from 'commander';
import { expect, toEventTypeName, withCore } from './context.ts';

const CONTENT_TYPE = 'application/json';

/**
 * The JSON Schema of what each delivery's body is: `{type, timestamp, data}` with the payload's
 * schema as `data`. The payload schema gets an `$id` of its own when it has none, so that its
 * `#/$defs/...` references still resolve once it is nested here.
 */
export function envelopeSchema(eventType: Pick<EventType, 'name' | 'schema'>): Record<string, unknown> {
  let data: Record<string, unknown> | boolean = true;
  if (eventType.schema) {
    const { $schema: _ignored, ...rest } = eventType.schema;
    data = { $id: `urn:switchboard:event-type:${eventType.name}:payload`, ...rest };
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    required: ['type', 'timestamp', 'data'],
    properties: {
      type: { const: eventType.name },
      timestamp: { type: 'string', format: 'date-time' },
      data,
    },
  };
}

/** servo-webhooks' `webhooks schema`: the content type and the JSON Schema of an event type. */
export function addEventTypeCommands(program: Command): void {
  const eventTypes = program.command('event-types').description('inspect event types');
  eventTypes
    .command('schema <type>')
    .description("print the content type and the JSON Schema of an event type's payload and of the envelope sent")
    .option('--json', 'print one JSON document: {contentType, payloadSchema, envelopeSchema}')
    .action(async (type: string, options: { json?: boolean }) => {
      const eventType = await withCore(async (core) =>
        expect(await core.eventTypes.get(systemPrincipal, toEventTypeName(type))),
      );
      const envelope = envelopeSchema(eventType);
      if (options.json) {
        console.log(
          JSON.stringify(
            {
              type: eventType.name,
              contentType: CONTENT_TYPE,
              payloadSchema: eventType.schema,
              envelopeSchema: envelope,
            },
            null,
            2,
          ),
        );
        return;
      }
      const lines = [`event type: ${eventType.name}`, `content type: ${CONTENT_TYPE}`];
      if (eventType.archivedAt) lines.push('archived: it takes no new events');
      if (eventType.schema) lines.push('payload schema:', JSON.stringify(eventType.schema, null, 2));
      else lines.push('payload: any JSON (the type has no schema)');
      lines.push(
        'envelope schema (the body of every delivery; the payload is its data):',
        JSON.stringify(envelope, null, 2),
      );
      console.log(lines.join('\n'));
    });
}
