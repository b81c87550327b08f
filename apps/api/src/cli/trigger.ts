import {
  type Core,
  type Delivery,
  type DeliveryAttempt,
  describeHookMode,
  type HookPhase,
  hookNamesFor,
  matchesPattern,
  modeOfPhase,
  type Subscription,
  splitHookPhase,
  systemPrincipal,
} from '@switchboard/core';
import type { Command } from 'commander';
import { CliError, expect, findUser, formatTable, withCore } from './context.ts';
import { describeState } from './subscriptions.ts';

/** How long `trigger` waits for every delivery's first attempt. */
const WAIT_MS = 30_000;
const DONE = new Set(['succeeded', 'failed', 'cancelled']);

interface TriggerOptions {
  subscription?: string;
  payload?: string;
  user?: string;
}

/**
 * servo-webhooks' `webhooks trigger after:adjust [NAME|URL]`: publishes an event as the system and
 * sends its deliveries from this process at once, so that an endpoint can be tried without a
 * running worker. `after:`/`before:` reach only after/before hooks, as in publishing (hook-phase.ts).
 */
export function addTriggerCommand(program: Command): void {
  program
    .command('trigger <type> [subscription]')
    .description("publish an event and send its deliveries now, printing each one's outcome")
    .option('--subscription <name|url>', 'only to this subscription, found by name or URL, whether or not it matches')
    .option('--payload <json>', 'the payload, as JSON (default {})')
    .option('--user <username>', 'whose subscription --subscription names, when several users have one')
    .action(async (type: string, positional: string | undefined, options: TriggerOptions) => {
      const payload = parsePayload(options.payload);
      if (positional !== undefined && options.subscription !== undefined && positional !== options.subscription) {
        throw new CliError(
          `The subscription is given twice, as "${positional}" and as --subscription "${options.subscription}"; give one`,
        );
      }
      const chosen = { ...options, subscription: positional ?? options.subscription };
      if (chosen.user && !chosen.subscription) {
        throw new CliError('--user chooses whose subscription --subscription names; give --subscription too');
      }
      const { lines, failed } = await withCore((core) => trigger(core, type, payload, chosen), { sendsItself: true });
      console.log(lines.join('\n'));
      if (failed > 0) throw new CliError(`${failed} ${failed === 1 ? 'delivery' : 'deliveries'} did not succeed`);
    });
}

function parsePayload(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(
      `--payload is not JSON (${(error as Error).message}); quote it for the shell, such as --payload '{"id": 1}'`,
    );
  }
}

async function trigger(
  core: Core,
  type: string,
  payload: unknown,
  options: TriggerOptions,
): Promise<{ lines: string[]; failed: number }> {
  const all = expect(await core.subscriptions.list(systemPrincipal, { allUsers: true }));
  const phased = splitHookPhase(type);
  const target = options.subscription ? await findTarget(core, all, options.subscription, phased, options.user) : null;
  // The phase goes to core with the type: it chooses which hooks are reached.
  const input = { type, payload };
  const published = expect(
    target
      ? await core.publisher.publishTo(systemPrincipal, target.id, input)
      : await core.publisher.publish(systemPrincipal, input),
  );
  const eventId = published.event.id;
  const lines = [`published ${published.event.type} event ${eventId}`];
  if (published.deliveryCount === 0) {
    const kind = phased.phase ? `${describeHookMode(modeOfPhase(phased.phase)).replace(/^an? /, '')} ` : '';
    lines.push(
      target
        ? `no delivery: the subscription "${target.name}" is ${describeState(target)}`
        : `no delivery: no enabled ${kind || 'subscription '}matches it`,
    );
    return { lines, failed: 0 };
  }

  // Built by core, so that a subscription this disables is announced as the server's worker would.
  const worker = core.createWorker({ eventId });
  const deadline = Date.now() + WAIT_MS;
  let state = await readDeliveries(core, eventId);
  // A server's worker on the same database may take some of them first; their outcome is read all the same.
  while (!state.every(isAttempted) && Date.now() < deadline) {
    if ((await worker.runOnce()) === 0) await new Promise((r) => setTimeout(r, 100));
    state = await readDeliveries(core, eventId);
  }

  const byId = new Map(all.map((s) => [s.id, s]));
  const ownerIds = [...new Set(all.map((s) => s.userId))];
  const owners = await core.users.loadByIds(ownerIds);
  const usernames = new Map(ownerIds.map((id, i) => [id, owners[i]?.username ?? id]));
  let failed = 0;
  const rows = state.map(({ delivery, attempt }) => {
    const subscription = delivery.subscriptionId ? byId.get(delivery.subscriptionId) : undefined;
    if (delivery.status !== 'succeeded') failed++;
    return [
      subscription?.name ?? delivery.subscriptionId ?? '?',
      subscription ? (usernames.get(subscription.userId) ?? '') : '',
      attempt?.statusCode ? String(attempt.statusCode) : `error: ${attempt?.error ?? delivery.lastError ?? 'none'}`,
      attempt ? `${attempt.durationMs} ms` : '-',
      describeOutcome(delivery, attempt),
    ];
  });
  lines.push(formatTable(['SUBSCRIPTION', 'OWNER', 'RESULT', 'DURATION', 'OUTCOME'], rows));
  return { lines, failed };
}

interface DeliveryState {
  delivery: Delivery;
  /** The latest attempt, once there is one. */
  attempt: DeliveryAttempt | undefined;
}

async function readDeliveries(core: Core, eventId: string): Promise<DeliveryState[]> {
  const found = expect(await core.deliveries.list(systemPrincipal, { eventId }, { limit: 1000, inverted: true }));
  const attempts = await core.deliveries.attemptsOf(found.map((d) => d.id));
  return found.map((delivery) => ({ delivery, attempt: attempts.get(delivery.id)?.at(-1) }));
}

function isAttempted({ delivery, attempt }: DeliveryState): boolean {
  return attempt !== undefined || DONE.has(delivery.status);
}

function describeOutcome(delivery: Delivery, attempt: DeliveryAttempt | undefined): string {
  if (delivery.status === 'pending' && attempt && delivery.nextAttemptAt) {
    return `failed; a worker tries again at ${delivery.nextAttemptAt.toISOString()}`;
  }
  if (!attempt && !DONE.has(delivery.status)) return `not attempted within ${WAIT_MS / 1000} s`;
  return delivery.status;
}

/**
 * By name, else by URL; several users' subscriptions of one name need --user to choose. A servo
 * webhook's name or URL stands for its before and its after hook: the phase picks one, and a hook of
 * the other phase named outright is left for core to refuse.
 */
async function findTarget(
  core: Core,
  all: Subscription[],
  ref: string,
  { type, phase }: { type: string; phase: HookPhase | null },
  username: string | undefined,
): Promise<Subscription> {
  const owner = username ? await findUser(core, username) : null;
  const candidates = owner ? all.filter((s) => s.userId === owner.id) : all;
  const names = hookNamesFor(ref, phase);
  const named = candidates.filter((s) => names.includes(s.name));
  let found = named.length > 0 ? named : candidates.filter((s) => s.url === ref);
  if (found.length > 1 && phase) {
    const ofPhase = found.filter((s) => s.mode === modeOfPhase(phase));
    if (ofPhase.length > 0) found = ofPhase;
  }
  // One webhook's before: and after: subscriptions share a URL; the type tells them apart.
  if (found.length > 1 && named.length === 0) {
    const matching = found.filter((s) => s.eventTypes.some((pattern) => matchesPattern(pattern, type)));
    if (matching.length > 0) found = matching;
  }
  const [first] = found;
  if (!first) {
    throw new CliError(
      `No subscription named "${ref}" or with that URL${owner ? ` belongs to "${owner.username}"` : ''}`,
    );
  }
  if (found.length === 1) return first;
  const ownerIds = [...new Set(found.map((s) => s.userId))];
  if (ownerIds.length > 1) {
    const users = await core.users.loadByIds(ownerIds);
    const names = users
      .map((u, i) => u?.username ?? ownerIds[i])
      .sort()
      .join(', ');
    throw new CliError(`Several users have a subscription "${ref}" (${names}); choose one with --user`);
  }
  throw new CliError(
    `Several subscriptions have the URL "${ref}" (${found.map((s) => s.name).join(', ')}); name one with --subscription`,
  );
}
