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
import { announceDisabledSubscriptions } from './events/system-events.ts';
import { jobCallbacks } from './jobs/job-callback.ts';
import { jobRequests } from './jobs/job-request.ts';
import { JobStore } from './jobs/job-store.ts';
import { JobUpdates } from './jobs/job-updates.ts';
import { JobsService } from './jobs/jobs-service.ts';
import { createHttpSender, type HttpSender } from './outbound/http-sender.ts';
import { OutboundKinds } from './outbound/kind.ts';
import type { AttemptOutcome } from './outbound/outcome.ts';
import { type ResolveAll, SsrfGuard } from './outbound/ssrf-guard.ts';
import { DeliveryWorker, type DeliveryWorkerOptions } from './outbound/worker.ts';
import { ActionRunsService } from './queues/action-runs-service.ts';
import { actionRequests } from './queues/actions/action-request.ts';
import { ActionRunStore } from './queues/actions/action-run-store.ts';
import { ActionRunner, type ActionRunnerOptions } from './queues/actions/action-runner.ts';
import type { ActionMetrics, ActionServices } from './queues/actions/action-types.ts';
import { ClientsService } from './queues/clients-service.ts';
import { IngestBudget } from './queues/ingest-budget.ts';
import { IngestService } from './queues/ingest-service.ts';
import { InlineActions } from './queues/inline-actions.ts';
import { MessageStreams } from './queues/message-stream.ts';
import { MessageWriter, type MessageWriterOptions } from './queues/message-writer.ts';
import { QueueRegistry } from './queues/queue-registry.ts';
import { QueuesService } from './queues/queues-service.ts';
import { sweepRetention } from './queues/retention.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import type { SubscriptionId } from './shared/ids.ts';
import { type Logger, silentLogger } from './shared/logger.ts';
import { CoalescedNotifier } from './shared/notifier.ts';
import { CHANNELS, noPubSub, type PubSub } from './shared/pubsub.ts';
import { TokensService } from './tokens/tokens-service.ts';
import { UserStore } from './users/user-store.ts';
import { UsersService } from './users/users-service.ts';

/** The kinds of delivery the outbound engine sends: a new kind is one more entry here. */
export function outboundKinds(db: Database): OutboundKinds {
  const jobStore = new JobStore(db);
  return new OutboundKinds([
    eventDeliveries,
    jobRequests(jobStore),
    jobCallbacks(jobStore),
    actionRequests(new ActionRunStore(db)),
  ]);
}

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
  /** What queues' actions may use; commands and Docker stay off unless `allowCommands`. */
  actions?: {
    allowCommands?: boolean;
    dockerHost?: string;
    /** What `read_config` reads; nothing by default. */
    env?: Readonly<Record<string, string | undefined>>;
    readFile?: (path: string) => string | null;
    metrics?: ActionMetrics;
    runner?: ActionRunnerOptions;
  };
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
    /**
     * Whether work due at once is announced to workers in other processes (default true). A
     * command that sends its own deliveries turns it off, or a running server would take them first.
     */
    announceDueWork?: boolean;
  };
}

export interface Core {
  users: UsersService;
  tokens: TokensService;
  auth: AuthService;
  queues: QueuesService;
  clients: ClientsService;
  ingest: IngestService;
  /** The queues as ingest sees them, in memory. */
  registry: QueueRegistry;
  config: ConfigService;
  streams: MessageStreams;
  eventTypes: EventTypesService;
  subscriptions: SubscriptionsService;
  publisher: EventPublisher;
  events: EventsService;
  deliveries: DeliveriesService;
  deliveryUpdates: DeliveryUpdates;
  /** This process's worker: running once `start({ worker: true })` has started it. */
  worker: DeliveryWorker;
  /** Runs queues' actions after their messages are answered: running once `start({ worker: true })` has started it. */
  actionRunner: ActionRunner;
  actionRuns: ActionRunsService;
  jobs: JobsService;
  jobUpdates: JobUpdates;
  webhookTestAccounts: WebhookTestAccounts;
  /**
   * Another worker with the same kinds and hooks, such as one for a single event (the CLI's
   * `trigger`); `stop()` stops it too.
   */
  createWorker(options: DeliveryWorkerOptions): DeliveryWorker;
  /**
   * Starts the listeners that keep caches and streams current, and the housekeeping (expired
   * sessions, messages past their queue's age) unless `housekeeping` is false; `worker` also starts
   * sending deliveries.
   */
  start(options: { worker: boolean; housekeeping?: boolean }): Promise<void>;
  /**
   * Stops the workers claiming, runs `whileStopping` (a server closes its listener there, letting
   * requests finish), lets the requests in flight end and records them, writes every message
   * handed to the writer, then stops the listeners and closes outbound connections.
   */
  stop(options?: { whileStopping?: () => Promise<void> }): Promise<void>;
  /** Removes messages older than their queue's retention age (the housekeeping runs it every 30 s). */
  sweepRetention(): Promise<number>;
}

/** Metrics of `metrics` actions when the server keeps none: accepted and dropped. */
const ignoredMetrics: ActionMetrics = {
  register: () => ({ ok: true, value: { inc() {}, dec() {}, observe() {} } }),
};

/** How often the housekeeping runs: expired sessions, and messages past their queue's age. */
const SESSION_SWEEP_MS = 10 * 60_000;
const RETENTION_SWEEP_MS = 30_000;

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
  const announceDue = () => {
    if (deps.delivery?.announceDueWork !== false) dueNotifier.poke();
  };
  const wakeWorker = () => {
    worker?.wake();
    announceDue();
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
    kinds: outboundKinds(deps.db),
    observe: deps.delivery?.observe,
    // Work due at once that no request announced (callbacks queued, claims handed back): other
    // processes' workers hear of it.
    onDue: announceDue,
    onSubscriptionsDisabled: (disabled: ReadonlyArray<{ subscriptionId: SubscriptionId; reason: string }>) =>
      announceDisabledSubscriptions({ ...shared, publisher, subscriptions }, disabled),
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
  const auth = new AuthService({ ...shared, tokens, store: userStore, ...deps.auth });
  const streams = new MessageStreams({ ...shared, pubsub, queues });
  const actionServices: ActionServices = {
    ...shared,
    env: deps.actions?.env ?? {},
    readFile: deps.actions?.readFile ?? (() => null),
    allowCommands: deps.actions?.allowCommands ?? false,
    dockerHost: deps.actions?.dockerHost,
    metrics: deps.actions?.metrics ?? ignoredMetrics,
    publish: async ({ type, payload, idempotencyKey }) => {
      const published = await publisher.publish(systemPrincipal, { type, payload, idempotencyKey });
      return published.ok ? { ok: true, value: { id: published.value.event.id } } : published;
    },
    send: (request) => sender.send(request),
  };
  const actionRuns = new ActionRunsService({ ...shared, pubsub, queues });
  const actionRunner = new ActionRunner(
    {
      ...shared,
      pubsub,
      queues: registry,
      services: actionServices,
      onDeliveriesDue: wakeWorker,
      localWorker: () => (workerStarted ? worker : undefined),
    },
    deps.actions?.runner,
  );
  // What keeps caches and streams current in this process: started first, stopped last.
  const listeners = [tokens, matcher, eventTypes, deliveryUpdates, jobUpdates, registry, streams, actionRuns];
  const extraWorkers = new Set<DeliveryWorker>();
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, what: string, run: () => Promise<unknown>) => {
    const timer = setInterval(() => {
      run().catch((error) => shared.logger.warn({ err: error }, `${what} failed`));
    }, ms);
    timer.unref();
    timers.push(timer);
  };
  const retention = () => sweepRetention(shared);
  return {
    users,
    tokens,
    auth,
    queues,
    clients: new ClientsService({ ...shared, queues }),
    ingest: new IngestService({
      ...shared,
      registry,
      writer,
      budget: new IngestBudget(deps.ingest?.maxInflightBytes),
      inline: new InlineActions({ ...shared, services: actionServices }),
      runner: actionRunner,
    }),
    registry,
    config: new ConfigService({
      ...shared,
      queues,
      subscriptions,
      eventTypes,
      users,
      readSource: deps.readConfig,
    }),
    streams,
    eventTypes,
    subscriptions,
    publisher,
    events: new EventsService({ ...shared, matcher, subscriptions, onDeliveriesDue: wakeWorker }),
    deliveries,
    deliveryUpdates,
    worker,
    actionRunner,
    actionRuns,
    jobs,
    jobUpdates,
    webhookTestAccounts: new WebhookTestAccounts({ ...shared, users, tokens }),
    createWorker: (options) => {
      const created = new DeliveryWorker(workerDeps, options);
      extraWorkers.add(created);
      return created;
    },
    async start(options) {
      for (const listener of listeners) await listener.start();
      if (options.housekeeping !== false) {
        every(SESSION_SWEEP_MS, 'session cleanup', () => auth.deleteExpiredSessions());
        every(RETENTION_SWEEP_MS, 'retention sweep', retention);
      }
      if (options.worker) {
        await worker.start();
        workerStarted = true;
        await actionRunner.start();
      }
    },
    async stop(options = {}) {
      for (const timer of timers.splice(0)) clearInterval(timer);
      // The workers stop claiming first, and finish and record what they hold while requests drain.
      const workersStopped = Promise.all([
        ...[...(workerStarted ? [worker] : []), ...extraWorkers].map((w) => w.stop()),
        ...(workerStarted ? [actionRunner.stop()] : []),
      ]);
      await options.whileStopping?.();
      await workersStopped;
      // Requests are finished; what they handed the writer is committed before the database goes.
      await writer.drain();
      await dueNotifier.settled();
      for (const listener of [...listeners].reverse()) await listener.stop();
      await sender.close();
    },
    sweepRetention: retention,
  };
}
