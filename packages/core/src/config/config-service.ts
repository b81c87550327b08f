import type { Database } from '@switchboard/db';
import { isAdmin, type Principal, systemPrincipal } from '../access/principal.ts';
import { type WebhookChanges, WebhooksApplier } from '../compat/servo-webhooks-apply.ts';
import type { SubscriptionsService } from '../delivery/subscriptions-service.ts';
import type { EventTypesService } from '../events/event-types-service.ts';
import { checkQueueDefinition, type QueuesService } from '../queues/queues-service.ts';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import type { UsersService } from '../users/users-service.ts';
import { type ParsedConfig, parseConfigFile } from './config-file.ts';

export interface ApplySummary extends WebhookChanges {
  queues: { created: string[]; updated: string[]; removed: string[] };
  users: { created: string[]; updated: string[]; removed: string[] };
  notices: string[];
}

export interface ConfigServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  queues: QueuesService;
  subscriptions: SubscriptionsService;
  eventTypes: EventTypesService;
  users: UsersService;
  /** Reads the config file's text; null when no file is configured. */
  readSource?: () => Promise<string | null>;
}

/**
 * Applies the declarative config file. Everything in the file is checked before anything is
 * changed, so a bad file changes nothing. Queues, users and webhook subscriptions the file made
 * and no longer lists are removed; stored messages of queues that stay are kept.
 */
export class ConfigService {
  private readonly webhooks: WebhooksApplier;

  constructor(private readonly deps: ConfigServiceDeps) {
    this.webhooks = new WebhooksApplier(deps);
  }

  /** `POST /reload` and SIGHUP: re-read the file and apply it. Admins and users with can_reload. */
  async reload(actor: Principal): Promise<Result<ApplySummary>> {
    if (!(await this.mayReload(actor))) return fail('FORBIDDEN', 'You may not reload the configuration');
    const text = await this.deps.readSource?.();
    if (text === null || text === undefined) return fail('NOT_FOUND', 'No config file is set (SWITCHBOARD_CONFIG)');
    return this.apply(text);
  }

  async apply(text: string): Promise<Result<ApplySummary>> {
    const parsed = parseConfigFile(text);
    if (!parsed.ok) return parsed;
    const refused = await this.webhooks.check(parsed.value);
    if (refused) return refused;
    const summary: ApplySummary = {
      queues: { created: [], updated: [], removed: [] },
      users: { created: [], updated: [], removed: [] },
      subscriptions: { created: [], updated: [], removed: [] },
      eventTypes: { created: [] },
      notices: parsed.value.notices,
    };
    // Every queue's rules, actions and templates are checked before any queue is changed.
    for (const definition of parsed.value.queues) {
      const checked = checkQueueDefinition(definition);
      if (!checked.ok) {
        return fail('INVALID', `Queue "${definition.name}": ${checked.error.message}`, {
          fields: checked.error.fields?.map((f) => ({ path: `${definition.name}.${f.path}`, message: f.message })),
        });
      }
    }
    const queueFailure = await this.applyQueues(parsed.value, summary);
    if (queueFailure) return queueFailure;
    await this.applyUsers(parsed.value, summary);
    await this.applyListeners(parsed.value);
    // After the users: the webhooks' owner may be one the file has just made.
    const webhookFailure = await this.webhooks.apply(parsed.value, summary);
    if (webhookFailure) return webhookFailure;
    this.deps.logger.info({ summary }, 'configuration applied');
    return ok(summary);
  }

  private async mayReload(actor: Principal): Promise<boolean> {
    if (actor.via === 'system' || isAdmin(actor)) return true;
    return this.deps.users.canReload(actor);
  }

  private async applyQueues(config: ParsedConfig, summary: ApplySummary): Promise<Result<ApplySummary> | null> {
    const listed = await this.deps.queues.list(systemPrincipal);
    // The system principal sees every queue.
    if (!listed.ok) throw new Error(listed.error.message);
    const existing = listed.value;
    const byName = new Map(existing.map((q) => [q.name, q]));
    for (const definition of config.queues) {
      const current = byName.get(definition.name);
      const result = current
        ? await this.deps.queues.update(systemPrincipal, current.id, definition)
        : await this.deps.queues.create(systemPrincipal, definition, 'config');
      if (!result.ok) {
        return fail('INVALID', `Queue "${definition.name}": ${result.error.message}`, { fields: result.error.fields });
      }
      if (current) {
        // A queue made through the API that the file now names belongs to the file from here on.
        if (current.managedBy !== 'config') await this.deps.queues.adoptForConfig(systemPrincipal, current.id);
        summary.queues.updated.push(definition.name);
      } else {
        summary.queues.created.push(definition.name);
      }
    }
    const wanted = new Set(config.queues.map((q) => q.name));
    for (const queue of existing) {
      if (queue.managedBy === 'config' && !wanted.has(queue.name)) {
        await this.deps.queues.delete(systemPrincipal, queue.id);
        summary.queues.removed.push(queue.name);
      }
    }
    return null;
  }

  private async applyUsers(config: ParsedConfig, summary: ApplySummary): Promise<void> {
    const applied = await this.deps.users.applyConfigUsers(systemPrincipal, config.users);
    // The system principal is never refused.
    if (!applied.ok) throw new Error(applied.error.message);
    summary.users.created.push(...applied.value.created);
    summary.users.updated.push(...applied.value.updated);
    summary.users.removed.push(...applied.value.removed);
  }

  /** Config queues are listened to by exactly the users the file lists for them. */
  private async applyListeners(config: ParsedConfig): Promise<void> {
    const queueIds = await this.deps.queues.findIdsByNames(config.queues.map((q) => q.name));
    const rows = await this.deps.users.listUsernames();
    const userIds = new Map(rows.map((u) => [u.username.toLowerCase(), u.id]));
    for (const [name, queueId] of queueIds) {
      const listeners = config.users
        .filter((u) => u.queues.includes(name))
        .map((u) => userIds.get(u.username.toLowerCase()))
        .filter((id) => id !== undefined);
      await this.deps.queues.setListeners(systemPrincipal, queueId, listeners);
    }
    // A config user may also be given API-made queues; those keep their other listeners.
    for (const user of config.users) {
      const userId = userIds.get(user.username.toLowerCase());
      const extra = user.queues.filter((q) => !queueIds.has(q));
      if (!userId || extra.length === 0) continue;
      const others = await this.deps.queues.findIdsByNames(extra);
      await this.deps.queues.addListeners(
        systemPrincipal,
        [...others.values()].map((queueId) => ({ queueId, userId })),
      );
    }
  }
}
