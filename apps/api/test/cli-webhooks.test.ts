import { type Core, systemPrincipal, validateAgainst } from '@switchboard/core';
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

const ORDER_SCHEMA = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string' } },
};

describe(`subscriptions, event-types and trigger commands on ${kind}`, () => {
  let receiver: TestReceiver;
  const at = (path: string) => receiver.requests.filter((r) => r.path === path);

  beforeAll(async () => {
    target = await createCliTarget('sb-cli-hooks-');
    receiver = await startReceiver((request) => ({ status: request.path === '/orders' ? 500 : 200 }));
    await withCore(async (core) => {
      const alice = must(
        await core.users.create(systemPrincipal, { username: 'alice', password: 'alice-password', role: 'admin' }),
      );
      const bob = must(await core.users.create(systemPrincipal, { username: 'bob', password: 'bob-password' }));
      must(await core.eventTypes.create(systemPrincipal, { name: 'measure' }));
      must(await core.eventTypes.create(systemPrincipal, { name: 'order.created', schema: ORDER_SCHEMA }));
      const subscribe = async (userId: string, name: string, path: string, eventTypes: string[]) =>
        must(
          await core.subscriptions.create(
            systemPrincipal,
            { name, url: `${receiver.url}${path}`, eventTypes },
            { userId },
          ),
        ).subscription;
      await subscribe(alice.id, 'measure-hook', '/alice', ['measure']);
      await subscribe(bob.id, 'measure-hook', '/bob', ['measure']);
      await subscribe(bob.id, 'orders', '/orders', ['order.*']);
      const retired = await subscribe(bob.id, 'retired', '/retired', ['measure']);
      must(await core.subscriptions.setEnabled(systemPrincipal, retired.id, false, 'endpoint retired'));
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
    'subscriptions list shows name, owner, mode, event types, URL and state',
    async () => {
      const run = await runCli(['subscriptions', 'list']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^NAME\s+OWNER\s+MODE\s+EVENT TYPES\s+URL\s+STATE$/);
      expect(lines).toHaveLength(5);
      expect(run.stdout).toMatch(
        new RegExp(`measure-hook\\s+alice\\s+async\\s+measure\\s+${receiver.url}/alice\\s+enabled`),
      );
      expect(run.stdout).toMatch(/orders\s+bob\s+async\s+order\.\*\s+\S+\/orders\s+enabled/);
      expect(run.stdout).toMatch(/retired\s+bob\s+.*disabled: endpoint retired/);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    "subscriptions list --user shows one user's; an unknown user is named",
    async () => {
      const run = await runCli(['subscriptions', 'list', '--user', 'alice']);
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n')).toHaveLength(2);
      expect(run.stdout).not.toContain('bob');

      const unknown = await runCli(['subscriptions', 'list', '--user', 'ghost']);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toContain('No user named "ghost"');
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'event-types schema prints the content type, the payload schema and the envelope schema',
    async () => {
      const run = await runCli(['event-types', 'schema', 'order.created']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('content type: application/json');
      expect(run.stdout).toContain('"required": [\n    "id"\n  ]');
      expect(run.stdout).toContain('envelope schema');

      // servo's `after:` prefix is understood; --json is one document a program can read.
      const json = await runCli(['event-types', 'schema', 'after:order.created', '--json']);
      expect(json.code).toBe(0);
      const document = JSON.parse(json.stdout);
      expect(document).toMatchObject({
        type: 'order.created',
        contentType: 'application/json',
        payloadSchema: ORDER_SCHEMA,
      });
      const envelope = { type: 'order.created', timestamp: new Date().toISOString(), data: { id: 'o_1' } };
      expect(validateAgainst(document.envelopeSchema, envelope)).toEqual([]);
      expect(validateAgainst(document.envelopeSchema, { ...envelope, data: { id: 1 } })).not.toEqual([]);
      expect(validateAgainst(document.envelopeSchema, { ...envelope, type: 'measure' })).not.toEqual([]);
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'event-types schema says when a type takes any JSON, and refuses an unknown type in one line',
    async () => {
      const run = await runCli(['event-types', 'schema', 'measure']);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('payload: any JSON (the type has no schema)');

      const unknown = await runCli(['event-types', 'schema', 'nope']);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toBe('switchboard: No event type named "nope"\n');
    },
    2 * CLI_TIMEOUT_MS,
  );

  it(
    'trigger publishes and delivers to every matching subscription now, naming each status',
    async () => {
      const run = await runCli(['trigger', 'measure', '--payload', '{"metric": "p99"}']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(at('/alice')).toHaveLength(1);
      expect(at('/bob')).toHaveLength(1);
      expect(at('/retired')).toHaveLength(0);
      expect(JSON.parse(at('/alice')[0]?.body.toString('utf8') ?? '')).toMatchObject({
        type: 'measure',
        data: { metric: 'p99' },
      });
      expect(run.stdout).toMatch(/^published measure event [0-9a-f-]{36}$/m);
      expect(run.stdout).toMatch(/measure-hook\s+alice\s+200\s+\d+ ms\s+succeeded/);
      expect(run.stdout).toMatch(/measure-hook\s+bob\s+200\s+\d+ ms\s+succeeded/);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'trigger --subscription sends to that one only; a name several users have needs --user; a disabled one gets nothing',
    async () => {
      const ambiguous = await runCli(['trigger', 'measure', '--subscription', 'measure-hook']);
      expectCleanFailure(ambiguous);
      expect(ambiguous.stderr).toContain('(alice, bob); choose one with --user');
      expect(receiver.requests).toHaveLength(0);

      const run = await runCli(['trigger', 'measure', '--subscription', 'measure-hook', '--user', 'bob']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(at('/bob')).toHaveLength(1);
      expect(receiver.requests).toHaveLength(1);
      expect(run.stdout).toMatch(/measure-hook\s+bob\s+200/);

      const disabled = await runCli(['trigger', 'measure', '--subscription', 'retired']);
      expect(disabled.code).toBe(0);
      expect(disabled.stdout).toContain('no delivery: the subscription "retired" is disabled: endpoint retired');
      expect(at('/retired')).toHaveLength(0);
    },
    3 * CLI_TIMEOUT_MS,
  );

  it(
    'trigger --subscription takes a URL; a failed delivery is reported and the exit status is 1',
    async () => {
      const run = await runCli([
        'trigger',
        'order.created',
        '--subscription',
        `${receiver.url}/orders`,
        '--payload',
        '{"id": "o_1"}',
      ]);
      expect(at('/orders')).toHaveLength(1);
      expect(run.stdout).toMatch(/orders\s+bob\s+500\s+\d+ ms\s+failed; a worker tries again at \S+$/m);
      expectCleanFailure(run);
      expect(run.stderr).toBe('switchboard: 1 delivery did not succeed\n');
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'trigger refuses a --payload that is not JSON, a payload its schema refuses, and an unknown type',
    async () => {
      const bad = await runCli(['trigger', 'measure', '--payload', '{metric: p99']);
      expectCleanFailure(bad);
      expect(bad.stderr).toContain('--payload is not JSON');

      const refused = await runCli(['trigger', 'order.created', '--payload', '{"id": 5}']);
      expectCleanFailure(refused);
      expect(refused.stderr).toContain('The payload does not match the schema of "order.created"');
      expect(refused.stderr).toContain('payload/id: must be string');

      const unknown = await runCli(['trigger', 'nope']);
      expectCleanFailure(unknown);
      expect(unknown.stderr).toContain('No event type named "nope"');
      expect(receiver.requests).toHaveLength(0);
    },
    3 * CLI_TIMEOUT_MS,
  );
});
