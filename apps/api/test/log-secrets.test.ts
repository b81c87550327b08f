import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { systemPrincipal } from '@switchboard/core';
import { createTestDatabase, type TestDatabase } from '@switchboard/db/testing';
import { sql } from 'drizzle-orm';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSwitchboard, type Switchboard } from '../src/app.ts';
import { loadEnv } from '../src/env.ts';
import { createLogger } from '../src/logger.ts';
import { CREATE_SUBSCRIPTION } from './delivery-fixtures.ts';
import { ADMIN, basic, factories, gql } from './harness.ts';

/**
 * Failed statements must not put what they were writing into the log: signing secrets, message
 * bodies and headers, event payloads, job headers. The database refuses every write to the
 * secret-bearing tables (a trigger raises), the server runs at the default log level into a
 * captured stream, and the log is searched for the values that were written.
 */

const REFUSE = [
  `create or replace function sb_test_refuse() returns trigger language plpgsql as $$
   begin raise exception 'refused by the test'; end $$`,
  'create trigger sb_test_refuse before insert on messages for each row execute function sb_test_refuse()',
  'create trigger sb_test_refuse before insert or update on subscriptions for each row execute function sb_test_refuse()',
  'create trigger sb_test_refuse before insert on events for each row execute function sb_test_refuse()',
  'create trigger sb_test_refuse before insert on jobs for each row execute function sb_test_refuse()',
];

describe('logs of failed writes', () => {
  let database: TestDatabase;
  let switchboard: Switchboard;
  let url: string;
  let log = '';
  const admin = basic(ADMIN.username, ADMIN.password);

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = loadEnv({ ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password });
    expect(env.LOG_LEVEL).toBe('info');
    const sink = new Writable({
      write(chunk, _encoding, done) {
        log += chunk.toString();
        done();
      },
    });
    switchboard = await createSwitchboard({
      env,
      logger: createLogger(env.LOG_LEVEL, sink),
      database: database.client,
      core: undefined,
    });
    await switchboard.app.listen({ port: 0, host: '127.0.0.1' });
    const address = switchboard.app.server.address();
    if (!address || typeof address === 'string') throw new Error('server has no port');
    url = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await switchboard.stop();
    await database.drop();
  });

  it('finding 6: secrets, bodies, headers and payloads of refused writes never reach the log; the error is logged by code', async () => {
    const marker = () => `marker${randomBytes(8).toString('hex')}`;
    const member = await factories(switchboard.core).user();
    const tokens = await member.token(['events:publish', 'jobs:write', 'subscriptions:write']);
    const queue = await switchboard.core.queues.create(systemPrincipal, { name: 'logged' });
    if (!queue.ok) throw new Error(queue.error.message);
    const type = await switchboard.core.eventTypes.create(systemPrincipal, {
      name: 'invoice.paid',
      description: null,
      schema: null,
    });
    if (!type.ok) throw new Error(type.error.message);
    const existing = await gql({ url }, CREATE_SUBSCRIPTION, {
      authorization: admin,
      variables: { input: { name: 'existing', url: 'https://example.com/hook', eventTypes: ['invoice.*'] } },
    });
    const existingId = existing.body.data?.createSubscription.subscription.id;
    expect(existingId).toBeTypeOf('string');

    for (const statement of REFUSE) await database.client.db.execute(sql.raw(statement));
    const secrets = {
      subscriptionSecret: `whsec_${randomBytes(24).toString('base64')}`,
      subscriptionHeader: marker(),
      messageBody: marker(),
      messageHeader: marker(),
      eventPayload: marker(),
      jobHeader: marker(),
      jobBody: marker(),
    };

    const created = await gql({ url }, CREATE_SUBSCRIPTION, {
      authorization: admin,
      variables: {
        input: {
          name: 'refused',
          url: 'https://example.com/refused',
          eventTypes: ['invoice.*'],
          secret: secrets.subscriptionSecret,
          headers: [{ name: 'X-Sub', value: secrets.subscriptionHeader }],
        },
      },
    });
    expect(created.body.data?.createSubscription ?? null).toBeNull();
    const rotated = await gql({ url }, 'mutation($id: ID!) { rotateSubscriptionSecret(id: $id) { __typename } }', {
      authorization: admin,
      variables: { id: existingId },
    });
    expect(rotated.body.data?.rotateSubscriptionSecret ?? null).toBeNull();

    const ingested = await fetch(`${url}/q/logged`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-marker': secrets.messageHeader },
      body: JSON.stringify({ secret: secrets.messageBody }),
    });
    expect(ingested.status).toBe(503);
    const published = await fetch(`${url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: tokens.authorization },
      body: JSON.stringify({ type: 'invoice.paid', payload: { secret: secrets.eventPayload } }),
    });
    expect(published.status).toBeGreaterThanOrEqual(500);
    const job = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: tokens.authorization },
      body: JSON.stringify({
        url: 'https://example.com/job',
        method: 'POST',
        headers: { 'X-Key': secrets.jobHeader },
        bodyBase64: Buffer.from(secrets.jobBody).toString('base64'),
      }),
    });
    expect(job.status).toBeGreaterThanOrEqual(500);

    expect(log).not.toContain('whsec_');
    for (const [what, value] of Object.entries(secrets)) {
      expect(log.includes(value), `${what} is in the log`).toBe(false);
      const encoded = Buffer.from(value).toString('base64').slice(0, 16);
      expect(log.includes(encoded), `${what} (base64) is in the log`).toBe(false);
    }
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg?: string; err?: { code?: string; message?: string } });
    const refusals = lines.filter((line) => line.err?.code === 'P0001');
    // One error line for each refused write at least: subscription, rotation, message, event, job.
    expect(refusals.length).toBeGreaterThanOrEqual(5);
    for (const line of refusals) {
      expect(line.level).toBeGreaterThanOrEqual(50);
      expect(line.err?.message).toContain('refused by the test');
    }
    expect(log).not.toMatch(/"(parameters|params|query)"/);
  });

  it('finding 6: an error logged alone, or among several arguments, is reduced like any other', () => {
    let written = '';
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, done) {
          written += chunk.toString();
          done();
        },
      }),
    );
    const cause = Object.assign(new Error('refused'), { code: 'P0001', parameters: ['whsec_alone'] });
    const error = new DrizzleQueryError('insert into subscriptions (secret) values ($1)', ['whsec_alone'], cause);
    logger.error(error);
    logger.error(['a failure', error] as unknown as object);
    logger.error({ err: error }, 'with a message');
    expect(written).not.toContain('whsec_');
    const lines = written
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ msg: 'refused', err: { code: 'P0001', message: 'refused' } });
    expect(lines[2]).toMatchObject({ msg: 'with a message', err: { code: 'P0001' } });
  });

  it("finding 6: an error logged as { err } without a message does not carry its statement's values", () => {
    let written = '';
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _encoding, done) {
          written += chunk.toString();
          done();
        },
      }),
    );
    const cause = Object.assign(new Error('refused'), { code: 'P0001' });
    const error = new DrizzleQueryError('insert into subscriptions (secret) values ($1)', ['whsec_object'], cause);
    logger.error({ err: error });
    logger.warn({ error, queue: 'q' });
    expect(written).not.toContain('whsec_');
    const lines = written
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines[0]).toMatchObject({ msg: 'refused', err: { code: 'P0001' } });
    expect(lines[1]).toMatchObject({ msg: 'refused', queue: 'q' });
  });
});
