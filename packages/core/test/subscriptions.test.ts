import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Core, createCore, type Principal, scopesForRole, systemPrincipal } from '../src/index.ts';

describe('subscriptions', () => {
  let database: TestDatabase;
  let core: Core;
  let alice: Principal;
  let bob: Principal;
  let admin: Principal;
  let now = new Date('2026-03-01T00:00:00Z');

  async function user(username: string, role: 'admin' | 'member'): Promise<Principal> {
    const created = await core.users.create(systemPrincipal, { username, password: `${username}-password`, role });
    if (!created.ok) throw new Error(created.error.message);
    return { user: created.value, via: 'password', scopes: scopesForRole(role) };
  }

  /** The id of the actor's only subscription, or an error: a made-up id would be NOT_FOUND for everyone. */
  async function onlySubscriptionId(actor: Principal): Promise<string> {
    const listed = await core.subscriptions.list(actor);
    if (!listed.ok) throw new Error(listed.error.message);
    const [only, ...rest] = listed.value;
    if (!only || rest.length > 0) throw new Error(`expected one subscription, got ${listed.value.length}`);
    return only.id;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    core = createCore({ db: database.client.db, clock: { now: () => now } });
    alice = await user('alice', 'member');
    bob = await user('bob', 'member');
    admin = await user('root', 'admin');
  });
  afterAll(async () => {
    await database.drop();
  });

  const definition = {
    name: 'billing',
    url: 'https://hooks.example.com/billing',
    eventTypes: ['invoice.*'],
    filter: { 'data.amount': { $gte: 100 } },
    headers: { 'X-Team': 'billing' },
  };

  it('creates a subscription signed the Standard Webhooks way by default, showing its whsec_ secret once', async () => {
    const created = await core.subscriptions.create(alice, definition);
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.value.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created.value.subscription).toMatchObject({
      name: 'billing',
      signing: { scheme: 'standard-webhooks' },
      mode: 'async',
      enabled: true,
      timeoutMs: 15_000,
      eventTypes: ['invoice.*'],
    });
    expect(JSON.stringify(created.value.subscription)).not.toContain(created.value.secret);
  });

  it('refuses invalid definitions, naming each problem, and stores nothing', async () => {
    const refused = await core.subscriptions.create(alice, {
      name: 'bad',
      url: 'ftp://user:pw@example.com',
      eventTypes: ['Invoice Paid'],
      filter: { amount: { $between: [1, 2] } },
      headers: { 'Webhook-Signature': 'forged' },
      timeoutMs: 5,
    });
    expect(refused.ok).toBe(false);
    const paths = !refused.ok ? (refused.error.fields ?? []).map((f) => f.path).sort() : [];
    expect(paths).toEqual(['eventTypes.0', 'filter.amount.$between', 'headers', 'timeoutMs', 'url']);
    const listed = await core.subscriptions.list(alice);
    expect(listed.ok && listed.value.map((s) => s.name)).toEqual(['billing']);
  });

  it('accepts a plain HMAC header in the style of X-Servo-Signature', async () => {
    const created = await core.subscriptions.create(bob, {
      name: 'servo',
      url: 'http://servo.example.com/hook',
      eventTypes: ['measure'],
      signing: { scheme: 'hmac', header: 'X-Servo-Signature', algorithm: 'sha1', encoding: 'hex' },
      secret: 's3cr3t-s3cr3t-s3cr3t',
      mode: 'blocking',
    });
    expect(created.ok && created.value.subscription.signing).toEqual({
      scheme: 'hmac',
      header: 'X-Servo-Signature',
      algorithm: 'sha1',
      encoding: 'hex',
      prefix: '',
    });
    expect(created.ok && created.value.secret).toBe('s3cr3t-s3cr3t-s3cr3t');
  });

  it("members see and manage only their own; others' are NOT_FOUND; admins see all", async () => {
    const bobsId = await onlySubscriptionId(bob);
    // The id is real: its owner and an admin find it, so alice's NOT_FOUND is about ownership.
    const own = await core.subscriptions.get(bob, bobsId);
    expect(own.ok && own.value.name).toBe('servo');
    expect((await core.subscriptions.get(admin, bobsId)).ok).toBe(true);
    const peek = await core.subscriptions.get(alice, bobsId);
    expect(!peek.ok && peek.error.code).toBe('NOT_FOUND');
    const removed = await core.subscriptions.delete(alice, bobsId);
    expect(!removed.ok && removed.error.code).toBe('NOT_FOUND');
    expect((await core.subscriptions.get(bob, bobsId)).ok).toBe(true);
    expect((await core.subscriptions.list(alice, { allUsers: true })).ok).toBe(false);
    const all = await core.subscriptions.list(admin, { allUsers: true });
    expect(all.ok && all.value.map((s) => s.name).sort()).toEqual(['billing', 'servo']);
    const readOnly: Principal = { ...alice, via: 'token', scopes: ['subscriptions:read'] };
    const denied = await core.subscriptions.create(readOnly, { ...definition, name: 'other' });
    expect(!denied.ok && denied.error.code).toBe('FORBIDDEN');
  });

  it('disables with a reason and re-enables, clearing the failure count', async () => {
    const billing = await onlySubscriptionId(alice);
    const off = await core.subscriptions.setEnabled(alice, billing, false, 'maintenance window');
    expect(off.ok && { enabled: off.value.enabled, reason: off.value.disabledReason }).toEqual({
      enabled: false,
      reason: 'maintenance window',
    });
    const on = await core.subscriptions.setEnabled(alice, billing, true);
    expect(
      on.ok && { enabled: on.value.enabled, reason: on.value.disabledReason, failures: on.value.consecutiveFailures },
    ).toEqual({
      enabled: true,
      reason: null,
      failures: 0,
    });
  });

  it('rotates the secret, keeping the old one valid for the grace period', async () => {
    const id = await onlySubscriptionId(alice);
    const rotated = await core.subscriptions.rotateSecret(alice, id, 3600);
    expect(rotated.ok).toBe(true);
    if (!rotated.ok) return;
    expect(rotated.value.secret).toMatch(/^whsec_/);
    expect(rotated.value.subscription.previousSecretExpiresAt).toEqual(new Date(now.getTime() + 3_600_000));
    expect((await core.subscriptions.rotateSecret(alice, id, -1)).ok).toBe(false);
    now = new Date(now.getTime() + 1000);
  });
});
