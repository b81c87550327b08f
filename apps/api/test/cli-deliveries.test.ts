import { type Core, systemPrincipal } from '@switchboard/core';
import { must, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_TIMEOUT_MS,
  type CliTarget,
  createCliTarget,
  expectCleanFailure,
  runCliAt,
  withCliCore,
} from './cli-runner.ts';

const kind = getTestDatabaseKind();
let target: (CliTarget & { remove(): Promise<void> }) | undefined;

const runCli = (args: string[]) => runCliAt(target ?? {}, args);
const withCore = <T>(run: (core: Core) => Promise<T>) =>
  withCliCore(target ?? {}, run, { allowedNetworks: ['127.0.0.0/8'] });

/** What a running server's worker would do: send what is due, until `done` holds or the deadline. */
async function drain(done: (core: Core) => Promise<boolean>): Promise<void> {
  await withCore(async (core) => {
    const worker = core.createWorker({});
    const deadline = Date.now() + 30_000;
    while (!(await done(core))) {
      if (Date.now() > deadline) throw new Error('the deliveries were not sent within 30 s');
      if ((await worker.runOnce()) === 0) await new Promise((r) => setTimeout(r, 50));
    }
  });
}

const failedCount = async (core: Core, subscriptionId?: string) =>
  must(await core.deliveries.list(systemPrincipal, { subscriptionId, status: ['failed'] }, { limit: 100 })).length;

describe(`deliveries resend on ${kind}`, () => {
  let receiver: TestReceiver;
  const ids = { alice: '', bob: '' };

  beforeAll(async () => {
    target = await createCliTarget('sb-cli-resend-');
    // The Webhook test README's subscriber, whose endpoint is down for now.
    receiver = await startReceiver(() => ({ status: 500 }));
    await withCore(async (core) => {
      must(await core.eventTypes.create(systemPrincipal, { name: 'relation_added' }));
      for (const username of ['alice', 'bob'] as const) {
        const user = must(await core.users.create(systemPrincipal, { username, password: `${username}-password` }));
        const created = must(
          await core.subscriptions.create(
            systemPrincipal,
            {
              name: 'relations',
              url: `${receiver.url}/${username}`,
              eventTypes: ['relation_added'],
              retryPolicy: { maxAttempts: 1 },
            },
            { userId: user.id },
          ),
        );
        ids[username] = created.subscription.id;
      }
      for (const n of [1, 2]) {
        must(await core.publisher.publish(systemPrincipal, { type: 'relation_added', payload: { relation: n } }));
      }
    });
    await drain(async (core) => (await failedCount(core)) === 4);
  }, 2 * CLI_TIMEOUT_MS);

  afterAll(async () => {
    await receiver?.close();
    await target?.remove();
  });

  it(
    "seed 002: deliveries resend re-queues failed deliveries from the command line, as the tool's resend does",
    async () => {
      expect(receiver.requests).toHaveLength(4);

      // Mistakes are one line and exit status 1, and re-queue nothing.
      const ghost = await runCli(['deliveries', 'resend', '--user', 'ghost']);
      expectCleanFailure(ghost);
      expect(ghost.stderr).toContain('No user named "ghost"');
      const unknown = await runCli(['deliveries', 'resend', '--subscription', 'nope']);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toContain('"nope"');
      const ambiguous = await runCli(['deliveries', 'resend', '--subscription', 'relations']);
      expectCleanFailure(ambiguous);
      expect(ambiguous.stderr).toContain('(alice, bob); choose one with --user');
      const badTime = await runCli(['deliveries', 'resend', '--since', 'last tuesday']);
      expectCleanFailure(badTime);
      expect(badTime.stderr).toBe('switchboard: --since must be an ISO 8601 time\n');
      expect(await withCore((core) => failedCount(core))).toBe(4);

      // The endpoint is back up; cron runs the resend for one user.
      receiver.respondWith(() => ({ status: 200 }));
      const alice = await runCli(['deliveries', 'resend', '--user', 'alice']);
      expect(alice.stderr).toBe('');
      expect(alice.code).toBe(0);
      expect(alice.stdout).toBe(`requeued 2 deliveries of "relations" (alice, ${ids.alice})\n`);
      await drain(async (core) => receiver.requests.length === 6 && (await failedCount(core, ids.alice)) === 0);
      expect(receiver.requests.slice(4).map((r) => r.path)).toEqual(['/alice', '/alice']);

      // Nothing failed since a time: nothing to do, and that is success.
      const later = await runCli(['deliveries', 'resend', '--since', new Date(Date.now() + 60_000).toISOString()]);
      expect(later.code).toBe(0);
      expect(later.stdout).toBe('no failed deliveries to re-queue\n');

      // A disabled subscription's failed deliveries are not re-queued: said, and exit status 1.
      await withCore(async (core) => {
        must(await core.subscriptions.setEnabled(systemPrincipal, ids.bob, false, 'endpoint moved'));
      });
      const disabled = await runCli(['deliveries', 'resend']);
      expectCleanFailure(disabled);
      expect(disabled.stdout).toBe(
        `not requeued 2 deliveries of "relations" (bob, ${ids.bob}): disabled: endpoint moved; enable it first\n`,
      );
      expect(disabled.stderr).toBe('switchboard: 1 subscription has failed deliveries that were not re-queued\n');

      await withCore(async (core) => {
        must(await core.subscriptions.setEnabled(systemPrincipal, ids.bob, true));
      });
      const bob = await runCli(['deliveries', 'resend', '--subscription', ids.bob]);
      expect(bob.code).toBe(0);
      expect(bob.stdout).toBe(`requeued 2 deliveries of "relations" (bob, ${ids.bob})\n`);
      await drain(async (core) => receiver.requests.length === 8 && (await failedCount(core)) === 0);
      expect(receiver.requests.slice(6).map((r) => r.path)).toEqual(['/bob', '/bob']);
      // The same deliveries were sent again: each kept its webhook-id.
      const firstIds = receiver.requests.slice(0, 4).map((r) => r.headers['webhook-id']);
      const againIds = receiver.requests.slice(4).map((r) => r.headers['webhook-id']);
      expect(new Set(againIds)).toEqual(new Set(firstIds));
    },
    10 * CLI_TIMEOUT_MS,
  );
});
