import { subscriptions } from '@switchboard/db';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_SUBSCRIPTION, createEventType } from './delivery-fixtures.ts';
import { factories, gql, startTestServer, type TestServer } from './harness.ts';

type Member = Awaited<ReturnType<ReturnType<typeof factories>['user']>>;

const INJECTED = 'a\r\nInjected: 1';

/** What users write (regular expressions, header values) is refused at the door of every surface. */
describe('user-supplied patterns and headers over GraphQL and REST', () => {
  let server: TestServer;
  let member: Member;
  let jobsToken = '';

  beforeAll(async () => {
    server = await startTestServer();
    member = await factories(server.core).user();
    jobsToken = (await member.token(['jobs:read', 'jobs:write'])).authorization;
    await createEventType(server, 'order.paid');
  });
  afterAll(async () => {
    await server.close();
  });

  const storedSubscriptions = async () =>
    Number((await server.database.client.db.select({ n: count() }).from(subscriptions))[0]?.n ?? 0);

  it('finding 2: createSubscription refuses a filter RE2 cannot run with a field problem at its path, and takes a catastrophic one', async () => {
    const create = (name: string, filter: unknown) =>
      gql(server, CREATE_SUBSCRIPTION, {
        authorization: member.authorization,
        variables: { input: { name, url: 'https://hooks.example.com/x', eventTypes: ['order.paid'], filter } },
      });
    const refused = (await create('backref', { 'data.s': { $regex: '(a)\\1' } })).body.data?.createSubscription;
    expect(refused).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: 'filter.data.s.$regex', message: expect.stringMatching(/backreference.*not supported/) }],
    });
    expect(await storedSubscriptions()).toBe(0);
    const accepted = (await create('nested', { 'data.s': { $regex: '^(a|aa)+$' } })).body.data?.createSubscription;
    expect(accepted?.__typename).toBe('CreateSubscriptionSuccess');
  });

  it('finding 10: a CR/LF header value is refused by createSubscription, POST /jobs and POST /webhook, naming the header', async () => {
    const subscription = await gql(server, CREATE_SUBSCRIPTION, {
      authorization: member.authorization,
      variables: {
        input: {
          name: 'injected',
          url: 'https://hooks.example.com/x',
          eventTypes: ['order.paid'],
          headers: [{ name: 'X-A', value: INJECTED }],
        },
      },
    });
    expect(subscription.body.data?.createSubscription).toMatchObject({
      __typename: 'ValidationError',
      fields: [{ path: expect.stringMatching(/headers/), message: expect.stringMatching(/control characters/) }],
    });

    const job = await fetch(`${server.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: jobsToken },
      body: JSON.stringify({ url: 'https://service.example.com/x', headers: { 'X-A': INJECTED } }),
    });
    expect(job.status).toBe(400);
    expect(await job.json()).toMatchObject({
      fields: [{ path: 'headers.X-A', message: expect.stringMatching(/control characters/) }],
    });

    const [, clientId, verifyToken] = jobsToken.replace('Bearer ', '').split('_');
    const waas = await fetch(`${server.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: clientId,
        verify_token: verifyToken,
        service: 'https://service.example.com/x',
        headers: { 'X-A': INJECTED },
      }),
    });
    expect(waas.status).toBe(400);
    expect(await waas.json()).toMatchObject({
      status: 'failed',
      fields: [{ path: 'headers.X-A', message: expect.stringMatching(/control characters/) }],
    });
  });
});
