// Compatibility: servo-webhooks. Its `webhooks:` list applied as subscriptions owned by one user.

import type { Database } from '@switchboard/db';
import { systemPrincipal } from '../access/principal.ts';
import type { SubscriptionsService } from '../delivery/subscriptions-service.ts';
import type { EventTypesService } from '../events/event-types-service.ts';
import { fail, type Result } from '../shared/result.ts';
import type { UsersService } from '../users/users-service.ts';
import type { ParsedWebhooks } from './servo-webhooks.ts';

/** What the config file says about servo-webhooks' list: the list, its owner, the file's users. */
export interface WebhooksSection {
  webhooks: ParsedWebhooks;
  webhooksOwner: string | null;
  users: ReadonlyArray<{ username: string }>;
}

export interface WebhookChanges {
  subscriptions: { created: string[]; updated: string[]; removed: string[] };
  eventTypes: { created: string[] };
}

interface Deps {
  db: Database;
  subscriptions: SubscriptionsService;
  eventTypes: EventTypesService;
  users: UsersService;
}

/**
 * The config file's webhooks as subscriptions of one owner, marked `managedBy: 'config'`: listed
 * ones are created or updated in place (keeping their id and deliveries), the others removed.
 */
export class WebhooksApplier {
  constructor(private readonly deps: Deps) {}

  /** What the database must allow before anything changes: an owner, and URLs the guard accepts. */
  async check(config: WebhooksSection): Promise<Result<never> | null> {
    const fields: Array<{ path: string; message: string }> = [];
    const { webhooksOwner } = config;
    if (webhooksOwner !== null) {
      const problem = await this.checkOwner(config, webhooksOwner);
      if (problem) fields.push({ path: 'webhooks_owner', message: problem });
    } else if (config.webhooks.subscriptions.length > 0 && !(await this.oldestAdmin())) {
      fields.push({ path: 'webhooks_owner', message: 'is needed: there is no admin to own the webhooks' });
    }
    for (const { path, definition } of config.webhooks.subscriptions) {
      const checked = this.deps.subscriptions.check(definition, { managedBy: 'config' });
      if (!checked.ok) {
        for (const f of checked.error.fields ?? []) fields.push({ path: `${path}.${f.path}`, message: f.message });
      }
    }
    return fields.length > 0 ? fail('INVALID', 'The config file is not valid', { fields }) : null;
  }

  /** Records what it did in `changes`; a failure here is one check() could not foresee. */
  async apply(config: WebhooksSection, changes: WebhookChanges): Promise<Result<never> | null> {
    for (const name of config.webhooks.eventTypes) {
      if ((await this.deps.eventTypes.get(systemPrincipal, name)).ok) continue;
      const created = await this.deps.eventTypes.create(systemPrincipal, {
        name,
        description: 'Created for the webhooks of the config file',
      });
      if (created.ok) changes.eventTypes.created.push(name);
      // CONFLICT: another process made it meanwhile, which is as good.
      else if (created.error.code !== 'CONFLICT')
        return fail('INVALID', `Event type "${name}": ${created.error.message}`);
    }

    const ownerId = (config.webhooksOwner ? await this.findUser(config.webhooksOwner) : await this.oldestAdmin())?.id;
    const wanted = new Set<string>();
    if (ownerId) {
      const owned = await this.deps.subscriptions.listForConfig(systemPrincipal, { ownerId });
      if (!owned.ok) return owned;
      const ids = new Map(owned.value.map((s) => [s.name, s.id]));
      for (const { path, definition } of config.webhooks.subscriptions) {
        wanted.add(definition.name);
        const id = ids.get(definition.name);
        // One of the owner's subscriptions made through the API that the file now names belongs to the file from here on.
        const result = id
          ? await this.deps.subscriptions.update(systemPrincipal, id, definition, { managedBy: 'config' })
          : await this.deps.subscriptions.create(systemPrincipal, definition, { userId: ownerId, managedBy: 'config' });
        if (!result.ok) return fail('INVALID', `${path} (${definition.name}): ${result.error.message}`, result.error);
        (id ? changes.subscriptions.updated : changes.subscriptions.created).push(definition.name);
      }
    }
    const managed = await this.deps.subscriptions.listForConfig(systemPrincipal, { managedBy: 'config' });
    if (!managed.ok) return managed;
    for (const subscription of managed.value) {
      if (subscription.userId === ownerId && wanted.has(subscription.name)) continue;
      await this.deps.subscriptions.delete(systemPrincipal, subscription.id);
      changes.subscriptions.removed.push(subscription.name);
    }
    return null;
  }

  /** The owner must exist once the file's users are applied: stored and kept, or listed in the file. */
  private async checkOwner(config: WebhooksSection, username: string): Promise<string | null> {
    const listed = config.users.some((u) => u.username.toLowerCase() === username.toLowerCase());
    if (listed) return null;
    const user = await this.findUser(username);
    if (!user) return `no user named "${username}"`;
    if (user.managedBy === 'config') return `"${username}" is a user this file no longer lists, and is removed`;
    return null;
  }

  private async findUser(username: string) {
    return systemRead(await this.deps.users.findAccount(systemPrincipal, username));
  }

  private async oldestAdmin() {
    return systemRead(await this.deps.users.oldestAdmin(systemPrincipal));
  }
}

/** The system principal is never refused. */
function systemRead<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}
