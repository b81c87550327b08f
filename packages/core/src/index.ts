import type { Database } from '@switchboard/db';
import { systemPrincipal } from './access/principal.ts';
import { AuthService, type AuthServiceDeps } from './auth/auth-service.ts';
import { WebhookTestAccounts } from './compat/webhook-test-accounts.ts';
import { ConfigService } from './config/config-service.ts';
import { DeliveriesService } from './delivery/deliveries-service.ts';
import { DeliveryUpdates } from './delivery/delivery-updates.ts';
import { eventDeliveries } from './delivery/event-delivery.ts';
import { SubscriptionMatcher } from './delivery/subscription-matcher.ts';
import { SubscriptionsService } from './delivery/subscriptions-service.ts';
import { EventPublisher } from './events/event-publisher.ts';
import { EventTypesService } from './events/event-types-service.ts';
import { EventsService } from './events/events-service.ts';
import { jobCallbacks } from './jobs/job-callback.ts';
import { jobRequests } from './jobs/job-request.ts';
import { JobUpdates } from './jobs/job-updates.ts';
import { JobsService } from './jobs/jobs-service.ts';
import { createHttpSender, type HttpSender } from './outbound/http-sender.ts';
import { OutboundKinds } from './outbound/kind.ts';
import type { AttemptOutcome } from './outbound/outcome.ts';
import { type ResolveAll, SsrfGuard } from './outbound/ssrf-guard.ts';
import { DeliveryWorker, type DeliveryWorkerOptions } from './outbound/worker.ts';
import { ClientsService } from './queues/clients-service.ts';
import { IngestBudget } from './queues/ingest-budget.ts';
import { IngestService } from './queues/ingest-service.ts';
import { MessageStreams } from './queues/message-stream.ts';
import { MessageWriter, type MessageWriterOptions } from './queues/message-writer.ts';
import { QueueRegistry } from './queues/queue-registry.ts';
import { QueuesService } from './queues/queues-service.ts';
import { sweepRetention } from './queues/retention.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import { type Logger, silentLogger } from './shared/logger.ts';
import { CoalescedNotifier } from './shared/notifier.ts';
import { CHANNELS, noPubSub, type PubSub } from './shared/pubsub.ts';
import { TokensService } from './tokens/tokens-service.ts';
import { UserStore } from './users/user-store.ts';
import { UsersService } from './users/users-service.ts';

export * from './access/principal.ts';
export * from './auth/auth-service.ts';
export * from './auth/login-throttle.ts';
export * from './auth/passwords.ts';
export * from './compat/servo-webhooks.ts';
export * from './compat/servo-webhooks-apply.ts';
export * from './compat/webhook-test-accounts.ts';
export * from './config/config-file.ts';
export * from './config/config-service.ts';
export * from './delivery/body-format.ts';
export * from './delivery/deliveries-service.ts';
export * from './delivery/delivery-updates.ts';
export * from './delivery/event-delivery.ts';
export * from './delivery/patterns.ts';
export * from './delivery/payload-filter.ts';
export * from './delivery/subscription-definition.ts';
export * from './delivery/subscription-matcher.ts';
export * from './delivery/subscriptions-service.ts';
export * from './events/event-content.ts';
export * from './events/event-publisher.ts';
export * from './events/event-record.ts';
export * from './events/event-types-service.ts';
export * from './events/events-service.ts';
export * from './events/hook-phase.ts';
export * from './events/json-schema.ts';
export * from './jobs/job-callback.ts';
export * from './jobs/job-definition.ts';
export * from './jobs/job-record.ts';
export * from './jobs/job-request.ts';
export * from './jobs/job-updates.ts';
export * from './jobs/jobs-service.ts';
export * from './outbound/attempt.ts';
export * from './outbound/http-sender.ts';
export * from './outbound/kind.ts';
export * from './outbound/outbound-store.ts';
export * from './outbound/outcome.ts';
export * from './outbound/retry-policy.ts';
export * from './outbound/signing.ts';
export * from './outbound/ssrf-guard.ts';
export * from './outbound/worker.ts';
export * from './queues/clients-service.ts';
export * from './queues/ingest-budget.ts';
export * from './queues/ingest-service.ts';
export * from './queues/message-stream.ts';
export * from './queues/message-writer.ts';
export * from './queues/queue-definition.ts';
export * from './queues/queue-registry.ts';
export * from './queues/queues-service.ts';
export * from './queues/retention.ts';
export * from './queues/verification/types.ts';
export * from './queues/verification/verify.ts';
export * from './shared/clock.ts';
export * from './shared/crypto.ts';
export * from './shared/cursor.ts';
export * from './shared/db-errors.ts';
export * from './shared/db-unavailable.ts';
export * from './shared/instant.ts';
export * from './shared/logger.ts';
export * from './shared/network.ts';
export * from './shared/pagination.ts';
export * from './shared/pubsub.ts';
export * from './shared/result.ts';
export * from './shared/text-input.ts';
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
  /** Bytes of inbound bodies held at once (INGEST_MAX_INFLIGHT_BYTES). */
  ingest?: { maxInflightBytes?: number };
  /** Reads the declarative config file, when there is one. */
  readConfig?: () => Promise<string | null>;
  delivery?: {
    /** CIDRs that outbound requests may reach although private (DELIVERY_ALLOWED_NETWORKS). */
    allowedNetworks?: readonly string[];
    /** How host names are resolved (tests give their own); the system resolver otherwise. */
    resolve?: ResolveAll;
    /** The outbound HTTP client; one that checks every address with the SSRF guard otherwise. */
    sender?: HttpSender;
    worker?: DeliveryWorkerOptions;
    /** Told of every recorded delivery outcome (metrics). */
    observe?: (outcome: AttemptOutcome) => void;
  };
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
  guard: SsrfGuard;
  sender: HttpSender;
  matcher: SubscriptionMatcher;
  publisher: EventPublisher;
  events: EventsService;
  deliveries: DeliveriesService;
  deliveryUpdates: DeliveryUpdates;
  worker: DeliveryWorker;
  jobs: JobsService;
  jobUpdates: JobUpdates;
  webhookTestAccounts: WebhookTestAccounts;
  /** Another worker with the same hooks, such as one for a single event (the CLI's `trigger`). */
  createWorker(options: DeliveryWorkerOptions): DeliveryWorker;
  /** Listeners that keep caches and streams current; `worker` also starts sending deliveries. */
  start(options: { worker: boolean }): Promise<void>;
  stop(): Promise<void>;
  /** Removes messages older than their queue's retention age; run periodically. */
  sweepRetention(): Promise<number>;
}

/** Builds every core service once, with the dependencies they share. */
export function createCore(deps: CoreDeps): Core {
  const shared = { db: deps.db, clock: deps.clock ?? systemClock, logger: deps.logger ?? silentLogger };
  const pubsub = deps.pubsub ?? noPubSub;
  // Users and their sessions, for the services that need them without the users service's rules.
  const userStore = new UserStore(shared);
  const tokens = new TokensService({ ...shared, pubsub, owners: userStore });
  const registry = new QueueRegistry({ ...shared, pubsub });
  const writer = new MessageWriter(shared, deps.writer);
  const queues = new QueuesService({ ...shared, pubsub, registry });
  const guard = new SsrfGuard(deps.delivery?.allowedNetworks ?? [], deps.delivery?.resolve);
  const sender = deps.delivery?.sender ?? createHttpSender(guard);
  const matcher = new SubscriptionMatcher({ ...shared, pubsub });
  const eventTypes = new EventTypesService({ ...shared, pubsub });
  // The worker, once built, is woken at once by publishes in this process (others hear NOTIFY).
  let worker: DeliveryWorker | undefined;
  // Workers here are woken at once; those in other processes by a coalesced NOTIFY.
  let workerStarted = false;
  const dueNotifier = new CoalescedNotifier(pubsub, CHANNELS.deliveries, shared.logger);
  const wakeWorker = () => {
    worker?.wake();
    dueNotifier.poke();
  };
  const subscriptions = new SubscriptionsService({ ...shared, pubsub, guard, onChange: () => matcher.invalidate() });
  // A user deleted (with their subscriptions) or demoted: what was checked or matched before may
  // no longer hold, in this process or any other.
  const onTokensChanged = async () => {
    await tokens.changed();
    await subscriptions.changed();
  };
  const publisher = new EventPublisher({
    ...shared,
    eventTypes,
    matcher,
    subscriptions,
    sender,
    onDeliveriesDue: wakeWorker,
    localWorker: () => (workerStarted ? worker : undefined),
  });
  const workerDeps = {
    ...shared,
    pubsub,
    sender,
    kinds: new OutboundKinds([eventDeliveries, jobRequests, jobCallbacks]),
    observe: deps.delivery?.observe,
    onSubscriptionsDisabled: async (disabled: Array<{ subscriptionId: string; reason: string }>) => {
      await subscriptions.changed();
      for (const { subscriptionId, reason } of disabled) {
        const found = await subscriptions.find(systemPrincipal, subscriptionId);
        if (!found) continue;
        const published = await publisher.publishSystem(
          'subscription.disabled',
          {
            subscriptionId,
            name: found.name,
            url: found.url,
            reason,
            disabledAt: (found.disabledAt ?? shared.clock.now()).toISOString(),
          },
          found.userId,
        );
        if (!published.ok) shared.logger.warn({ error: published.error }, 'subscription.disabled not published');
      }
    },
  };
  worker = new DeliveryWorker(workerDeps, deps.delivery?.worker);
  const deliveries = new DeliveriesService({ ...shared, pubsub, subscriptions, onDeliveriesDue: wakeWorker });
  const deliveryUpdates = new DeliveryUpdates({ ...shared, pubsub, subscriptions });
  const jobs = new JobsService({
    ...shared,
    pubsub,
    guard,
    deliveries,
    onDeliveriesDue: wakeWorker,
    owners: userStore,
  });
  const jobUpdates = new JobUpdates({ ...shared, pubsub, jobs });
  const users = new UsersService({ ...shared, onTokensChanged });
  return {
    users,
    tokens,
    auth: new AuthService({ ...shared, tokens, store: userStore, ...deps.auth }),
    queues,
    clients: new ClientsService({ ...shared, queues }),
    ingest: new IngestService({ ...shared, registry, writer, budget: new IngestBudget(deps.ingest?.maxInflightBytes) }),
    registry,
    writer,
    config: new ConfigService({
      ...shared,
      queues,
      subscriptions,
      eventTypes,
      users,
      readSource: deps.readConfig,
    }),
    streams: new MessageStreams({ ...shared, pubsub, queues }),
    eventTypes,
    subscriptions,
    guard,
    sender,
    matcher,
    publisher,
    events: new EventsService({ ...shared, matcher, subscriptions, onDeliveriesDue: wakeWorker }),
    deliveries,
    deliveryUpdates,
    worker,
    jobs,
    jobUpdates,
    webhookTestAccounts: new WebhookTestAccounts({ ...shared, users, tokens }),
    createWorker: (options) => new DeliveryWorker(workerDeps, options),
    async start(options) {
      await tokens.start();
      await matcher.start();
      await eventTypes.start();
      await deliveryUpdates.start();
      await jobUpdates.start();
      if (options.worker) {
        await worker.start();
        workerStarted = true;
      }
    },
    async stop() {
      if (workerStarted) await worker.stop();
      await jobUpdates.stop();
      await deliveryUpdates.stop();
      await eventTypes.stop();
      await matcher.stop();
      await tokens.stop();
      await sender.close();
    },
    sweepRetention: () => sweepRetention(shared),
  };
}
