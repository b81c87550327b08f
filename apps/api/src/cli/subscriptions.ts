import { type Subscription, systemPrincipal } from '@switchboard/core';
import type { Command } from 'commander';
import { expect, findUser, formatTable, withCore } from './context.ts';

export function describeState(subscription: Pick<Subscription, 'enabled' | 'disabledReason'>): string {
  return subscription.enabled ? 'enabled' : `disabled: ${subscription.disabledReason ?? 'no reason given'}`;
}

/** servo-webhooks' `webhooks list`: every subscription, or one user's. */
export function addSubscriptionCommands(program: Command): void {
  const subscriptions = program.command('subscriptions').description('inspect subscriptions');
  subscriptions
    .command('list')
    .description('list subscriptions: name, owner, mode, event types, URL and state')
    .option('--user <username>', "only this user's subscriptions")
    .action(async (options: { user?: string }) => {
      const output = await withCore(async (core) => {
        const owner = options.user ? await findUser(core, options.user) : null;
        const all = expect(await core.subscriptions.list(systemPrincipal, { allUsers: true }));
        const listed = owner ? all.filter((s) => s.userId === owner.id) : all;
        if (listed.length === 0) return owner ? `"${owner.username}" has no subscriptions` : 'no subscriptions';
        const ownerIds = [...new Set(listed.map((s) => s.userId))];
        const owners = await core.users.loadByIds(ownerIds);
        const usernames = new Map(ownerIds.map((id, i) => [id, owners[i]?.username ?? id]));
        const rows = listed
          .map((s) => [
            s.name,
            usernames.get(s.userId) ?? s.userId,
            s.mode,
            s.eventTypes.join(','),
            s.url,
            describeState(s),
          ])
          .sort((a, b) => (a[1] ?? '').localeCompare(b[1] ?? '') || (a[0] ?? '').localeCompare(b[0] ?? ''));
        return formatTable(['NAME', 'OWNER', 'MODE', 'EVENT TYPES', 'URL', 'STATE'], rows);
      });
      console.log(output);
    });
}
