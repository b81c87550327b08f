import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.ts';
import './schema/common/roots.ts';
import './schema/common/scalars.ts';
import './schema/common/errors.ts';
import './schema/user/user.ts';
import './schema/token/token.ts';
import './schema/session/session.ts';
import './schema/queue/message.ts';
import './schema/queue/queue.ts';
import './schema/client/client.ts';
import './schema/event-type/event-type.ts';

export const schema = builder.toSchema();

export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
