import type { UserId } from '@switchboard/core';
import { startReceiver, type TestReceiver } from '@switchboard/core/testing';
import { apiTokens, events, subscriptions, users } from '@switchboard/db';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN, factories, gql, startTestServer, type TestServer } from './harness.ts';

/** The Webhook test tool's README, over its own routes: account, subscribe, trigger. */
describe('Webhook test routes', () => {
  let server: TestServer;
  let receiver: TestReceiver;
  let registration: string;
  let trigger: string;
  let member: string;

  const post = async (path: string, body: unknown, authorization?: string, contentType = 'application/json') => {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (authorization !== undefined) headers.authorization = authorization;
    const response = await fetch(`${server.url}/webhooks/${path}`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const stored = async () => {
    const db = server.database.client.db;
    const n = async (table: typeof users | typeof subscriptions | typeof events | typeof apiTokens) =>
      Number((await db.select({ n: count() }).from(table))[0]?.n ?? 0);
    return {
      users: await n(users),
      subscriptions: await n(subscriptions),
      events: await n(events),
      tokens: await n(apiTokens),
    };
  };

  beforeAll(async () => {
    server = await startTestServer({ env: { DELIVERY_ALLOWED_NETWORKS: '127.0.0.0/8' } });
    receiver = await startReceiver();
    const make = factories(server.core);
    registration = `Bearer ${(await (await make.user({ role: 'admin' })).token(['admin', 'tokens:write'])).secret}`;
    trigger = `Bearer ${(await (await make.user()).token(['events:publish'])).secret}`;
    member = `Bearer ${(await (await make.user()).token(['subscriptions:write', 'tokens:write'])).secret}`;
    const admin = {
      user: { id: '' as UserId, username: ADMIN.username, role: 'admin' as const },
      via: 'system' as const,
      scopes: ['admin' as const],
    };
    for (const name of ['relation_added', 'relation_deleted', 'citation.detected']) {
      const created = await server.core.eventTypes.create(admin, { name });
      if (!created.ok) throw new Error(created.error.message);
    }
  });
  afterAll(async () => {
    await receiver.close();
    await server.close();
  });
  beforeEach(() => {
    receiver.requests.length = 0;
  });

  it('runs the README: an account gives a token, the token subscribes, a trigger is delivered in the tool’s shape', async () => {
    const account = await post('account', { user_email: 'you@email.bar', user_id: 'blablabla' }, registration);
    expect(account.status).toBe(200);
    expect(typeof account.body).toBe('string');
    const access = `Bearer ${account.body as string}`;

    const url = `${receiver.url}/callback`;
    const subscribed = await post('subscribe', { event: 'relation_added', url }, access);
    expect(subscribed).toEqual({ status: 200, body: 200 });
    const again = await post('subscribe', { event: 'relation_added', url }, access);
    expect(again.status).toBe(200);
    expect(again.body.warning).toBe('subscription already exists');

    const payload = { bibcode: '2017arXiv170301301Z', relation: 'cites' };
    const before = Date.now();
    const triggered = await post('trigger', { event: 'relation_added', payload }, trigger);
    expect(triggered).toEqual({ status: 200, body: 200 });
    const [delivery] = await receiver.waitFor(1);
    const sent = JSON.parse(delivery?.body.toString() ?? '{}');
    expect(Object.keys(sent).sort()).toEqual(['event', 'id', 'payload', 'time']);
    expect(sent.event).toBe('relation_added');
    expect(sent.payload).toEqual(payload);
    expect(Number(sent.time)).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(delivery?.headers['webhook-id']).toMatch(/^msg_/);
    const [event] = await server.database.client.db.select({ id: events.id, type: events.type }).from(events);
    expect(sent.id).toBe(event?.id);

    // The account's token reads its subscription: the tool's body, disabled after 5 failures.
    const listed = await gql(server, '{ subscriptions { url eventTypes bodyFormat disableAfterFailures } }', {
      authorization: access,
    });
    expect(listed.body.data?.subscriptions).toEqual([
      { url, eventTypes: ['relation_added'], bodyFormat: 'WEBHOOK_TEST', disableAfterFailures: 5 },
    ]);
  });

  it('sends the same trigger body once, as the tool skipped an event it had seen', async () => {
    const account = await post('account', { user_id: 'once-only' }, registration);
    await post('subscribe', { event: 'relation_deleted', url: `${receiver.url}/once` }, `Bearer ${account.body}`);
    const body = { event: 'relation_deleted', payload: { id: 7 } };
    const eventsBefore = (await stored()).events;
    expect((await post('trigger', body, trigger)).status).toBe(200);
    expect((await post('trigger', body, trigger)).status).toBe(200);
    await receiver.waitFor(1);
    expect((await stored()).events).toBe(eventsBefore + 1);
    expect((await post('trigger', { ...body, payload: { id: 8 } }, trigger)).status).toBe(200);
    await receiver.waitFor(2);
    expect(receiver.requests.map((r) => JSON.parse(r.body.toString()).payload)).toEqual([{ id: 7 }, { id: 8 }]);
  });

  it('gives an existing account another token; both work, and a pattern subscribes to every matching type', async () => {
    const first = await post('account', { user_id: 'returning' }, registration);
    const second = await post('account', { user_id: 'returning' }, registration);
    expect(second.status).toBe(200);
    expect(second.body).not.toBe(first.body);
    const url = `${receiver.url}/citations`;
    expect((await post('subscribe', { event: 'citation.*', url }, `Bearer ${first.body}`)).status).toBe(200);
    const dup = await post('subscribe', { event: 'citation.*', url }, `Bearer ${second.body}`);
    expect(dup.body.warning).toBe('subscription already exists');
    await post('trigger', { event: 'citation.detected', payload: { cited_id: '10.5281/zenodo.45906' } }, trigger);
    const [received] = await receiver.waitFor(1);
    expect(received?.path).toBe('/citations');
    expect(JSON.parse(received?.body.toString() ?? '{}').event).toBe('citation.detected');
  });

  it('never hands out a token for a console user or an admin, whatever the case of the user_id', async () => {
    const consoleUser = await factories(server.core).user();
    const before = await stored();
    for (const username of [ADMIN.username.toUpperCase(), consoleUser.user.username]) {
      const answer = await post('account', { user_id: username }, registration);
      expect(answer).toEqual({
        status: 409,
        body: { error: `The user "${username}" was not made through /webhooks/account; choose another user_id` },
      });
    }
    expect(await stored()).toEqual(before);
  });

  it('answers bad requests and wrong tokens in the tool’s words with a 4xx, and stores nothing', async () => {
    const access = `Bearer ${(await post('account', { user_id: 'careful' }, registration)).body}`;
    const before = await stored();
    const cases: Array<[string, unknown, string | undefined, number, string]> = [
      ['account', { user_id: 'x' }, undefined, 401, '"{Bearer}" missing from "Authorization" header'],
      ['account', { user_id: 'x' }, 'Basic abc', 401, '"{Bearer}" missing from "Authorization" header'],
      ['account', { user_id: 'x' }, 'Bearer a b', 401, 'Improperly formatted "Authorization" header'],
      ['account', { user_id: 'x' }, 'Bearer sb_nope_nope', 401, 'incorrect registration token was provided'],
      ['account', { user_email: 'a@b.c' }, registration, 400, 'No "user_id" provided in authentication request'],
      ['account', { user_id: 'x' }, trigger, 403, 'Registering accounts needs an admin token'],
      ['account', { user_id: 'careful' }, member, 403, 'Registering accounts needs an admin token'],
      ['account', { user_id: 'a\u0000b' }, registration, 400, 'user_id must not contain the NUL character (\\u0000)'],
      [
        'subscribe',
        { event: 'relation_added\u0000', url: `${receiver.url}/x` },
        access,
        400,
        'event must not contain the NUL character (\\u0000)',
      ],
      ['subscribe', { event: 'relation_added' }, access, 400, 'incorrect submission data was provided'],
      ['subscribe', { event: 'no_such_event', url: `${receiver.url}/x` }, access, 400, 'unsupported event'],
      [
        'subscribe',
        { event: 'relation_added', url: 'ftp://example.test/' },
        access,
        400,
        'The subscription is not valid',
      ],
      [
        'subscribe',
        { event: 'relation_added', url: `${receiver.url}/x` },
        'Bearer sb_nope_nope',
        401,
        'incorrect subscription token was provided',
      ],
      [
        'subscribe',
        { event: 'relation_added', url: `${receiver.url}/x` },
        trigger,
        403,
        'Changing subscriptions needs the subscriptions:write scope',
      ],
      ['trigger', { payload: {} }, trigger, 400, 'no event was provided'],
      [
        'trigger',
        { event: 'relation_added\u0000', payload: {} },
        trigger,
        400,
        'event must not contain the NUL character (\\u0000)',
      ],
      ['trigger', { event: 'relation_added' }, trigger, 400, 'no payload was provided'],
      [
        'trigger',
        { event: 'relation_added', payload: {} },
        'Bearer sb_nope_nope',
        401,
        'incorrect trigger token was provided',
      ],
      [
        'trigger',
        { event: 'relation_added', payload: {} },
        access,
        403,
        'Publishing events needs the events:publish scope',
      ],
      ['trigger', [1, 2], trigger, 400, 'Send a JSON object, with Content-Type: application/json'],
    ];
    for (const [path, body, authorization, status, error] of cases) {
      const answer = await post(path, body, authorization);
      expect({ path, body, status: answer.status, error: answer.body.error }).toEqual({ path, body, status, error });
    }
    const unknown = await post('trigger', { event: 'no_such_event', payload: {} }, trigger);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/no_such_event/);
    const malformed = await post('trigger', '{"event": ', trigger);
    expect(malformed.status).toBe(400);
    const notJson = await post('subscribe', 'event=relation_added', access, 'text/plain');
    expect(notJson.status).toBe(400);
    expect(await stored()).toEqual(before);
    expect(receiver.requests).toHaveLength(0);
  });
});
