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
import './schema/queue/action-run.ts';
import './schema/client/client.ts';
import './schema/event-type/event-type.ts';
import './schema/delivery/delivery-attempt.ts';
import './schema/delivery/delivery.ts';
import './schema/subscription/subscription-input.ts';
import './schema/subscription/subscription.ts';
import './schema/event/event.ts';
import './schema/event/publish-event.ts';
import './schema/job/job.ts';
import './schema/job/create-job.ts';
import './schema/job/job-signing-secret.ts';

export const schema = builder.toSchema();

export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
