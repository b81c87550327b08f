import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Core, createCore, type Subscription, systemPrincipal } from '@switchboard/core';
import { startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { subscriptions } from '@switchboard/db';
import { createTestDatabase, getTestDatabaseKind, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const kind = getTestDatabaseKind();

/** servo-webhooks' README example, as it stands. */
const README_EXAMPLE = `
webhooks:
  - name: my_measure_handler # Optional. Name of the webhook.
    description: Store measurement info into Elastic Search. # Optional: Textual description of the webhook
    events:
    - after:measure # Required. Format: \`(before|after):[EVENT_NAME]\`
    url: https://example.com/webhooks # Required. Format: [URL]
    secret: s3cr3t # Required. Secret value for computing webhook signatures
    headers: # Optional, Dict[str, str]
      - name: x-some-header
        value: some value
    backoff: # Optional. Setting to \`false\` disables retries.
      max_tries: 3
      max_time: 5m
`;

describe(`servo-webhooks in the config file (${kind})`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-servo-'));
  const configPath = join(dir, 'config.yaml');
  let database: TestDatabase;
  let core: Core;
  let receiver: TestReceiver;
  let adminId = '';

  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({
      db: database.client.db,
      pubsub: database.client,
      readConfig: () => readFile(configPath, 'utf8'),
      delivery: { allowedNetworks: ['127.0.0.0/8'] },
    });
    receiver = await startReceiver();
    // Two admins: the webhooks belong to the older one unless the file names an owner.
    for (const username of ['first-admin', 'second-admin']) {
      const created = await core.users.create(systemPrincipal, { username, password: `${username}-pw`, role: 'admin' });
      if (!created.ok) throw new Error(created.error.message);
      if (!adminId) adminId = created.value.id;
      await new Promise((r) => setTimeout(r, 5));
    }
    const member = await core.users.create(systemPrincipal, { username: 'servo', password: 'servo-password' });
    if (!member.ok) throw new Error(member.error.message);
  });
  afterAll(async () => {
    await core.stop();
    await receiver.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    // Each test starts from no webhooks; what the file made, a file without webhooks removes.
    await applyFile('queues: []\n');
    receiver.requests.length = 0;
  });

  async function applyFile(text: string) {
    writeFileSync(configPath, text);
    const result = await core.config.reload(systemPrincipal);
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return result.value;
  }

  async function reloadFails(text: string) {
    writeFileSync(configPath, text);
    const result = await core.config.reload(systemPrincipal);
    if (result.ok) throw new Error('the file was accepted');
    return result.error;
  }

  async function listAll(): Promise<Subscription[]> {
    const listed = await core.subscriptions.list(systemPrincipal, { allUsers: true });
    if (!listed.ok) throw new Error(listed.error.message);
    return listed.value;
  }

  async function secretOf(id: string): Promise<string> {
    const rows = await database.client.db
      .select({ id: subscriptions.id, secret: subscriptions.secret })
      .from(subscriptions);
    return rows.find((r) => r.id === id)?.secret ?? '';
  }

  it('applies the README example as it stands: an async subscription signed with X-Servo-Signature', async () => {
    const summary = await applyFile(README_EXAMPLE);
    expect(summary.subscriptions).toEqual({ created: ['my_measure_handler'], updated: [], removed: [] });
    expect(summary.eventTypes.created).toEqual(['measure']);
    expect(summary.notices).toEqual([
      expect.stringMatching(/^webhooks\.0 \(my_measure_handler\): the secret has 6 characters/),
    ]);

    const [subscription, ...others] = await listAll();
    expect(others).toEqual([]);
    expect(subscription).toMatchObject({
      name: 'my_measure_handler',
      userId: adminId,
      description: 'Store measurement info into Elastic Search.',
      url: 'https://example.com/webhooks',
      eventTypes: ['measure'],
      headers: { 'x-some-header': 'some value' },
      signing: { scheme: 'hmac', header: 'X-Servo-Signature', algorithm: 'sha1', encoding: 'hex', prefix: '' },
      retryPolicy: { maxAttempts: 3, maxTotalMs: 300_000 },
      mode: 'async',
      managedBy: 'config',
      enabled: true,
    });
    expect(await secretOf(subscription?.id ?? '')).toBe('s3cr3t');
    expect((await core.eventTypes.get(systemPrincipal, 'measure')).ok).toBe(true);
  });

  it('a webhook with before: and after: events becomes a blocking and an async subscription', async () => {
    const summary = await applyFile(`
webhooks:
  - name: gate
    events: [before:adjust, after:adjust, after:measure]
    url: https://example.com/gate
    secret: a-secret-long-enough
`);
    expect(summary.subscriptions.created).toEqual(['gate', 'gate before']);
    expect(summary.notices).toEqual([]);
    const byName = new Map((await listAll()).map((s) => [s.name, s]));
    expect(byName.get('gate')).toMatchObject({ mode: 'async', eventTypes: ['adjust', 'measure'] });
    expect(byName.get('gate before')).toMatchObject({ mode: 'blocking', eventTypes: ['adjust'] });
  });

  it('backoff: false tries once; max_time takes servo durations; unnamed webhooks get a stable name from the URL', async () => {
    const file = `
webhooks:
  - events: [after:measure]
    url: https://hooks.example.com/servo/
    secret: a-secret-long-enough
    backoff: false
  - name: "my:handler!"
    events: [after:measure]
    url: https://example.com/other
    secret: a-secret-long-enough
    headers: { x-team: ops }
    backoff: { max_time: 90 }
`;
    await applyFile(file);
    const first = new Map((await listAll()).map((s) => [s.name, s]));
    expect(first.get('hooks.example.com_servo')?.retryPolicy).toEqual({ maxAttempts: 1 });
    // Characters outside the subscription name rule become underscores; a bare number is seconds.
    expect(first.get('my_handler_')).toMatchObject({
      headers: { 'x-team': 'ops' },
      retryPolicy: { maxTotalMs: 90_000 },
    });

    const again = await applyFile(file);
    expect(again.subscriptions).toEqual({
      created: [],
      updated: ['hooks.example.com_servo', 'my_handler_'],
      removed: [],
    });
    const second = new Map((await listAll()).map((s) => [s.name, s.id]));
    expect(second.get('hooks.example.com_servo')).toBe(first.get('hooks.example.com_servo')?.id);
  });

  it('signing: standard-webhooks signs the Standard Webhooks way, with the short secret as the key', async () => {
    const summary = await applyFile(`
webhooks:
  - name: modern
    events: [after:measure]
    url: ${receiver.url}/modern
    secret: s3cr3t
    signing: standard-webhooks
`);
    expect(summary.notices).toHaveLength(1);
    const [subscription] = await listAll();
    expect(subscription?.signing).toEqual({ scheme: 'standard-webhooks' });
    expect(await secretOf(subscription?.id ?? '')).toBe(`whsec_${Buffer.from('s3cr3t').toString('base64')}`);

    const published = await core.publisher.publish(systemPrincipal, { type: 'measure', payload: { n: 1 } });
    expect(published.ok).toBe(true);
    expect(await core.worker.runOnce()).toBe(1);
    const [request] = receiver.requests;
    const id = String(request?.headers['webhook-id']);
    const timestamp = String(request?.headers['webhook-timestamp']);
    const expected = createHmac('sha256', Buffer.from('s3cr3t'))
      .update(`${id}.${timestamp}.${request?.body.toString('utf8')}`)
      .digest('base64');
    expect(request?.headers['webhook-signature']).toBe(`v1,${expected}`);
    expect(request?.headers['x-servo-signature']).toBeUndefined();
  });

  it('a delivery from a config webhook carries X-Servo-Signature, the hex HMAC-SHA1 of the body', async () => {
    await applyFile(
      README_EXAMPLE.replace('https://example.com/webhooks', `${receiver.url}/servo`).replace(
        'secret: s3cr3t',
        'secret: super secret authentication code',
      ),
    );
    const published = await core.publisher.publish(systemPrincipal, { type: 'measure', payload: { metric: 'p99' } });
    expect(published.ok).toBe(true);
    expect(await core.worker.runOnce()).toBe(1);

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    const body = request?.body ?? Buffer.alloc(0);
    const expected = createHmac('sha1', 'super secret authentication code').update(body).digest('hex');
    expect(request?.headers['x-servo-signature']).toBe(expected);
    expect(request?.headers['x-some-header']).toBe('some value');
    expect(JSON.parse(body.toString('utf8'))).toMatchObject({ type: 'measure', data: { metric: 'p99' } });
  });

  it('a reload removes the webhooks the file dropped and updates the others in place', async () => {
    const both = `
webhooks:
  - name: kept
    events: [after:measure]
    url: https://example.com/kept
    secret: a-secret-long-enough
  - name: dropped
    events: [after:measure]
    url: https://example.com/dropped
    secret: a-secret-long-enough
`;
    await applyFile(both);
    const before = new Map((await listAll()).map((s) => [s.name, s.id]));
    // A subscription made through the API is no business of the file's.
    const own = await core.subscriptions.create(
      systemPrincipal,
      { name: 'made-by-hand', url: 'https://example.com/hand', eventTypes: ['measure'] },
      { userId: adminId },
    );
    expect(own.ok).toBe(true);

    const summary = await applyFile(
      both.replace(/ {2}- name: dropped[\s\S]*$/, '').replace('https://example.com/kept', 'https://example.com/moved'),
    );
    expect(summary.subscriptions).toEqual({ created: [], updated: ['kept'], removed: ['dropped'] });
    const after = await listAll();
    expect(after.map((s) => s.name).sort()).toEqual(['kept', 'made-by-hand']);
    expect(after.find((s) => s.name === 'kept')).toMatchObject({
      id: before.get('kept'),
      url: 'https://example.com/moved',
    });
    if (own.ok) await core.subscriptions.delete(systemPrincipal, own.value.subscription.id);
  });

  it('a bad file changes nothing, and says where each problem is', async () => {
    await applyFile(README_EXAMPLE);
    const [original] = await listAll();
    const error = await reloadFails(`
queues:
  - name: new-queue
webhooks:
  - name: my_measure_handler
    events: [after:measure, during:adjust]
    url: https://example.com/changed
    secret: s3cr3t
  - name: second
    events: [after:created.thing]
    url: http://127.0.0.1:9/local
    secret: s3cr3t
    backoff: { max_tries: 3, max_time: soon }
  - name: third
    events: [after:x]
    url: https://example.com/third
    secret: s3cr3t
    headers: [{ name: x-only-a-name }]
`);
    expect(error.code).toBe('INVALID');
    const paths = (error.fields ?? []).map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['webhooks.0.events.1', 'webhooks.1.backoff.max_time']));
    expect(paths.some((p) => p.startsWith('webhooks.2.headers.0'))).toBe(true);

    // The URL the guard refuses is found in a file that is otherwise fine, still before any change.
    const refused = await reloadFails(`
queues:
  - name: new-queue
webhooks:
  - name: local
    events: [after:created.thing]
    url: http://169.254.169.254/latest
    secret: s3cr3t
`);
    expect(refused.fields?.map((f) => f.path)).toEqual(['webhooks.0.url']);

    expect(await listAll()).toEqual([original]);
    expect((await core.queues.getByName(systemPrincipal, 'new-queue')).ok).toBe(false);
    expect((await core.eventTypes.get(systemPrincipal, 'created.thing')).ok).toBe(false);
  });

  it('webhooks_owner gives the webhooks to that user; an unknown owner refuses the file', async () => {
    await applyFile(`webhooks_owner: servo\n${README_EXAMPLE}`);
    const servo = await core.users.findByUsername('servo');
    const [subscription] = await listAll();
    expect(subscription?.userId).toBe(servo?.id);

    const error = await reloadFails(`webhooks_owner: nobody\n${README_EXAMPLE}`);
    expect(error.fields).toEqual([{ path: 'webhooks_owner', message: 'no user named "nobody"' }]);
    expect((await listAll()).map((s) => s.userId)).toEqual([servo?.id]);

    // Moving the webhooks to another owner replaces them.
    const moved = await applyFile(README_EXAMPLE);
    expect(moved.subscriptions).toEqual({
      created: ['my_measure_handler'],
      updated: [],
      removed: ['my_measure_handler'],
    });
    expect((await listAll()).map((s) => s.userId)).toEqual([adminId]);
  });
});
