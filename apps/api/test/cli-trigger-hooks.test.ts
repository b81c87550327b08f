import { type Core, systemPrincipal } from '@switchboard/core';
import { must, startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { getTestDatabaseKind } from '@switchboard/db/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

const runCli = (args: string[]) => runCliAt(target ?? {}, args, { env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
const withCore = <T>(run: (core: Core) => Promise<T>) =>
  withCliCore(target ?? {}, run, { allowedNetworks: ['127.0.0.0/8'] });

/** servo-webhooks' README configuration, with a before and an after hook on one webhook. */
const servoYaml = (url: string) => `
webhooks:
  - name: adjust_handler # Optional. Name of the webhook.
    description: Authorize adjustments, then record them. # Optional: Textual description of the webhook
    events:
    - before:adjust # Required. Format: \`(before|after):[EVENT_NAME]\`
    - after:adjust
    url: ${url} # Required. Format: [URL]
    secret: s3cr3t-s3cr3t-s3cr3t # Required. Secret value for computing webhook signatures
    headers: # Optional, Dict[str, str]
      - name: x-some-header
        value: some value
    backoff: false
`;

describe(`servo-webhooks trigger with before and after hooks on ${kind}`, () => {
  let receiver: TestReceiver;
  let hookUrl = '';

  beforeAll(async () => {
    target = await createCliTarget('sb-cli-servo-');
    receiver = await startReceiver();
    hookUrl = `${receiver.url}/webhooks`;
    await withCore(async (core) => {
      must(
        await core.users.create(systemPrincipal, { username: 'opsani', password: 'opsani-password', role: 'admin' }),
      );
      must(await core.config.apply(servoYaml(hookUrl)));
    });
  });

  afterAll(async () => {
    await receiver?.close();
    await target?.remove();
  });

  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it(
    "seed 003: trigger takes the hook's name or URL as a positional argument",
    async () => {
      const byName = await runCli(['trigger', 'after:adjust', 'adjust_handler']);
      expect(byName.stderr).toBe('');
      expect(byName.code).toBe(0);
      expect(byName.stdout).toMatch(/^published adjust event [0-9a-f-]{36}$/m);
      expect(byName.stdout).toMatch(/^adjust_handler\s+opsani\s+200\s+\d+ ms\s+succeeded$/m);
      expect(receiver.requests).toHaveLength(1);

      // The webhook's name stands for its before hook too, when the event says before:.
      const before = await runCli(['trigger', 'before:adjust', 'adjust_handler']);
      expect(before.code).toBe(0);
      expect(before.stdout).toMatch(/^adjust_handler before\s+opsani\s+200/m);
      expect(receiver.requests).toHaveLength(2);

      const byUrl = await runCli(['trigger', 'after:adjust', hookUrl]);
      expect(byUrl.code).toBe(0);
      expect(byUrl.stdout).toMatch(/^adjust_handler\s+opsani\s+200/m);
      expect(byUrl.stdout).not.toContain('adjust_handler before');
      expect(receiver.requests).toHaveLength(3);

      // The option still works, and agrees with the argument or is refused.
      const option = await runCli(['trigger', 'after:adjust', '--subscription', 'adjust_handler']);
      expect(option.code).toBe(0);
      const both = await runCli(['trigger', 'after:adjust', 'adjust_handler', '--subscription', 'adjust_handler']);
      expect(both.code).toBe(0);
      expect(receiver.requests).toHaveLength(5);
      const differ = await runCli(['trigger', 'after:adjust', 'adjust_handler', '--subscription', hookUrl]);
      expectCleanFailure(differ);
      expect(differ.stderr).toContain('--subscription');
      expect(receiver.requests).toHaveLength(5);
    },
    7 * CLI_TIMEOUT_MS,
  );

  it(
    'seed 003: trigger after:<event> reaches only after hooks, and before:<event> only before hooks',
    async () => {
      const after = await runCli(['trigger', 'after:adjust']);
      expect(after.stderr).toBe('');
      expect(after.code).toBe(0);
      expect(after.stdout).toMatch(/^adjust_handler\s+opsani\s+200/m);
      expect(after.stdout).not.toContain('adjust_handler before');
      expect(receiver.requests).toHaveLength(1);

      const before = await runCli(['trigger', 'before:adjust']);
      expect(before.code).toBe(0);
      expect(before.stdout).toMatch(/^adjust_handler before\s+opsani\s+200/m);
      expect(before.stdout).not.toMatch(/^adjust_handler\s+opsani/m);
      expect(receiver.requests).toHaveLength(2);

      // A before hook named with after: (and the other way round) is refused, not sent to.
      const mismatch = await runCli(['trigger', 'after:adjust', '--subscription', 'adjust_handler before']);
      expectCleanFailure(mismatch);
      expect(mismatch.stderr).toContain('before');
      expect(receiver.requests).toHaveLength(2);

      // Publishing follows the same rule; the bare type still reaches both.
      await withCore(async (core) => {
        const subscriptions = must(await core.subscriptions.list(systemPrincipal, { allUsers: true }));
        const id = (name: string) => subscriptions.find((s) => s.name === name)?.id;
        const deliveredTo = async (eventId: string) =>
          must(await core.deliveries.list(systemPrincipal, { eventId }, { limit: 10 })).map((d) => d.subscriptionId);

        const published = must(await core.publisher.publish(systemPrincipal, { type: 'after:adjust', payload: {} }));
        expect(published.event.type).toBe('adjust');
        expect(await deliveredTo(published.event.id)).toEqual([id('adjust_handler')]);

        const waited = must(
          await core.publisher.publish(systemPrincipal, { type: 'before:adjust', payload: {}, wait: true }),
        );
        expect(waited.blocking.map((b) => b.subscriptionId)).toEqual([id('adjust_handler before')]);
        expect(await deliveredTo(waited.event.id)).toEqual([id('adjust_handler before')]);

        const bare = must(await core.publisher.publish(systemPrincipal, { type: 'adjust', payload: {} }));
        expect((await deliveredTo(bare.event.id)).sort()).toEqual(
          [id('adjust_handler'), id('adjust_handler before')].sort(),
        );
      });
    },
    4 * CLI_TIMEOUT_MS,
  );
});
