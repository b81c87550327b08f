import { type Core, EARLIEST_INSTANT, parseInstant, type Subscription, systemPrincipal } from '@switchboard/core';
import type { Command } from 'commander';
import { CliError, expect, findUser, withCore } from './context.ts';
import { describeState } from './subscriptions.ts';

interface ResendOptions {
  subscription?: string;
  since?: string;
  user?: string;
}

/** Failed deliveries of a disabled subscription are counted up to this many, then said as `1000+`. */
const COUNT_LIMIT = 1000;

/**
 * The Webhook test tool's resend, which it ran as a command so that cron could run it: failed
 * deliveries are put back in the queue, keeping their `webhook-id`, through the same recovery as
 * the `recoverSubscriptionDeliveries` mutation; a running worker sends them. One line per
 * subscription, starting `requeued` or `not requeued`, so that cron's mail can be grepped.
 */
export function addDeliveryCommands(program: Command): void {
  const deliveries = program.command('deliveries').description('work with deliveries');
  deliveries
    .command('resend')
    .description("re-queue failed deliveries (all, one user's or one subscription's), for a worker to send again")
    .option('--subscription <name|id>', 'only this subscription, by name or id')
    .option('--since <time>', 'only deliveries created at or after this ISO 8601 time (default: all)')
    .option('--user <username>', "only this user's subscriptions; chooses whose --subscription names")
    .action(async (options: ResendOptions) => {
      const parsed = options.since === undefined ? null : parseInstant(options.since);
      if (parsed && !parsed.ok) throw new CliError(`--since ${parsed.message}`);
      const since = parsed?.ok ? parsed.date : EARLIEST_INSTANT;
      const { lines, notRequeued } = await withCore((core) => resend(core, since, options));
      console.log(lines.length > 0 ? lines.join('\n') : 'no failed deliveries to re-queue');
      if (notRequeued > 0) {
        const has = notRequeued === 1 ? 'subscription has' : 'subscriptions have';
        throw new CliError(`${notRequeued} ${has} failed deliveries that were not re-queued`);
      }
    });
}

async function resend(
  core: Core,
  since: Date,
  options: ResendOptions,
): Promise<{ lines: string[]; notRequeued: number }> {
  const owner = options.user ? await findUser(core, options.user) : null;
  const all = expect(await core.subscriptions.list(systemPrincipal, { allUsers: true }));
  const owned = owner ? all.filter((s) => s.userId === owner.id) : all;
  const chosen = options.subscription ? [await findSubscription(core, owned, options.subscription, owner)] : owned;
  const ownerIds = [...new Set(chosen.map((s) => s.userId))];
  const owners = await core.users.loadByIds(ownerIds);
  const usernames = new Map(ownerIds.map((id, i) => [id, owners[i]?.username ?? id]));
  const sorted = chosen
    .map((subscription) => ({ subscription, username: usernames.get(subscription.userId) ?? '' }))
    .sort((a, b) => a.username.localeCompare(b.username) || a.subscription.name.localeCompare(b.subscription.name));

  const lines: string[] = [];
  let notRequeued = 0;
  for (const { subscription, username } of sorted) {
    const about = `"${subscription.name}" (${username}, ${subscription.id})`;
    const recovered = subscription.enabled
      ? await core.deliveries.recover(systemPrincipal, subscription.id, since)
      : null;
    if (recovered?.ok) {
      if (recovered.value.count > 0) lines.push(`requeued ${countDeliveries(recovered.value.count)} of ${about}`);
      continue;
    }
    // Disabled (now, or since it was listed): its failed deliveries wait until it is enabled again.
    const left = expect(
      await core.deliveries.list(
        systemPrincipal,
        { subscriptionId: subscription.id, status: ['failed'], since },
        { limit: COUNT_LIMIT + 1 },
      ),
    ).length;
    if (left === 0) continue;
    notRequeued++;
    const why = recovered ? recovered.error.message : `${describeState(subscription)}; enable it first`;
    const count = left > COUNT_LIMIT ? `${COUNT_LIMIT}+ deliveries` : countDeliveries(left);
    lines.push(`not requeued ${count} of ${about}: ${why}`);
  }
  return { lines, notRequeued };
}

function countDeliveries(count: number): string {
  return `${count} ${count === 1 ? 'delivery' : 'deliveries'}`;
}

/** By id, else by name; a name several users have needs --user to choose. */
async function findSubscription(
  core: Core,
  candidates: Subscription[],
  ref: string,
  owner: { username: string } | null,
): Promise<Subscription> {
  const byId = candidates.find((s) => s.id === ref);
  if (byId) return byId;
  const named = candidates.filter((s) => s.name === ref);
  const [first] = named;
  if (!first) {
    throw new CliError(
      `No subscription named "${ref}" or with that id${owner ? ` belongs to "${owner.username}"` : ''}`,
    );
  }
  if (named.length === 1) return first;
  const users = await core.users.loadByIds(named.map((s) => s.userId));
  const names = users
    .map((u, i) => u?.username ?? named[i]?.userId)
    .sort()
    .join(', ');
  throw new CliError(`Several users have a subscription "${ref}" (${names}); choose one with --user`);
}
