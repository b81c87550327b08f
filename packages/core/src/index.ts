import type { Database } from '@switchboard/db';
import { AuthService, type AuthServiceDeps } from './auth/auth-service.ts';
import { ConfigService } from './config/config-service.ts';
import { SubscriptionsService } from './delivery/subscriptions-service.ts';
import { EventTypesService } from './events/event-types-service.ts';
import { ClientsService } from './queues/clients-service.ts';
import { IngestService } from './queues/ingest-service.ts';
import { MessageStreams } from './queues/message-stream.ts';
import { MessageWriter, type MessageWriterOptions } from './queues/message-writer.ts';
import { QueueRegistry } from './queues/queue-registry.ts';
import { QueuesService } from './queues/queues-service.ts';
import { sweepRetention } from './queues/retention.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import { type Logger, silentLogger } from './shared/logger.ts';
import { noPubSub, type PubSub } from './shared/pubsub.ts';
import { TokensService } from './tokens/tokens-service.ts';
import { UsersService } from './users/users-service.ts';

export * from './auth/auth-service.ts';
export * from './auth/login-throttle.ts';
export * from './auth/passwords.ts';
export * from './auth/principal.ts';
export * from './config/config-file.ts';
export * from './config/config-service.ts';
export * from './delivery/patterns.ts';
export * from './delivery/payload-filter.ts';
export * from './delivery/retry-policy.ts';
export * from './delivery/ssrf-guard.ts';
export * from './delivery/subscription-definition.ts';
export * from './delivery/subscriptions-service.ts';
export * from './events/event-types-service.ts';
export * from './events/json-schema.ts';
export * from './queues/clients-service.ts';
export * from './queues/ingest-service.ts';
export * from './queues/message-stream.ts';
export * from './queues/message-writer.ts';
export * from './queues/network.ts';
export * from './queues/queue-definition.ts';
export * from './queues/queue-registry.ts';
export * from './queues/queues-service.ts';
export * from './queues/retention.ts';
export * from './queues/verification/types.ts';
export * from './queues/verification/verify.ts';
export * from './shared/clock.ts';
export * from './shared/crypto.ts';
export * from './shared/logger.ts';
export * from './shared/pagination.ts';
export * from './shared/pubsub.ts';
export * from './shared/result.ts';
export * from './tokens/tokens-service.ts';
export * from './users/users-service.ts';

export interface CoreDeps {
  db: Database;
  clock?: Clock;
  logger?: Logger;
  /** LISTEN/NOTIFY between processes; the database client provides it. */
  pubsub?: PubSub;
  auth?: Pick<AuthServiceDeps, 'basicCacheTtlMs' | 'sessionTtlMs' | 'throttle'>;
  writer?: MessageWriterOptions;
  /** Reads the declarative config file, when there is one. */
  readConfig?: () => Promise<string | null>;
}

export interface Core {
  users: UsersService;
  tokens: TokensService;
  auth: AuthService;
  queues: QueuesService;
  clients: ClientsService;
  ingest: IngestService;
  registry: QueueRegistry;
  writer: MessageWriter;
  config: ConfigService;
  streams: MessageStreams;
  eventTypes: EventTypesService;
  subscriptions: SubscriptionsService;
  /** Removes messages older than their queue's retention age; run periodically. */
  sweepRetention(): Promise<number>;
}

/** Builds every core service once, with the dependencies they share. */
export function createCore(deps: CoreDeps): Core {
  const shared = { db: deps.db, clock: deps.clock ?? systemClock, logger: deps.logger ?? silentLogger };
  const pubsub = deps.pubsub ?? noPubSub;
  const tokens = new TokensService(shared);
  const registry = new QueueRegistry({ ...shared, pubsub });
  const writer = new MessageWriter(shared, deps.writer);
  const queues = new QueuesService({ ...shared, pubsub, registry });
  return {
    users: new UsersService(shared),
    tokens,
    auth: new AuthService({ ...shared, tokens, ...deps.auth }),
    queues,
    clients: new ClientsService({ ...shared, queues }),
    ingest: new IngestService({ ...shared, registry, writer }),
    registry,
    writer,
    config: new ConfigService({ ...shared, queues, readSource: deps.readConfig }),
    streams: new MessageStreams({ ...shared, pubsub, queues }),
    eventTypes: new EventTypesService(shared),
    subscriptions: new SubscriptionsService(shared),
    sweepRetention: () => sweepRetention(shared),
  };
}
