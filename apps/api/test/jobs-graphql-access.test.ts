import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSubscriptionRefused } from './delivery-fixtures.ts';
import { ADMIN, basic, gql } from './harness.ts';
import {
  CANCEL_JOB,
  CREATE_JOB,
  JOB,
  JOB_UPDATES,
  JOBS,
  ROTATE_SIGNING_SECRET,
  SIGNING_SECRET,
  startJobsServer,
} from './job-fixtures.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const MISSING = '00000000-0000-4000-8000-000000000000';

describe('jobs over GraphQL: who may do what, and bad input', () => {
  let env: Awaited<ReturnType<typeof startJobsServer>>;
  /** A job of alice's that has ended. */
  let finished: string;

  beforeAll(async () => {
    env = await startJobsServer();
    finished = await env.create(env.alice.authorization, { url: env.url('/service') });
    await env.settled(env.alice.authorization, finished, (job) => job.state === 'SUCCEEDED');
  });
  afterAll(async () => {
    await env.close();
  });

  it("another member neither sees, lists nor cancels a member's job; admins see it", async () => {
    expect((await env.as(env.bob.authorization, JOB, { id: finished })).errors?.[0]?.extensions?.code).toBe(
      'NOT_FOUND',
    );
    expect(await env.listed(env.bob.authorization)).toEqual([]);
    expect((await env.as(env.bob.authorization, CANCEL_JOB, { id: finished })).data?.cancelJob.__typename).toBe(
      'NotFoundError',
    );
    expect((await env.as(env.carol.authorization, JOB, { id: finished })).errors?.[0]?.extensions?.code).toBe(
      'NOT_FOUND',
    );
    expect(await env.listed(env.carol.authorization)).not.toContain(finished);
    expect((await env.as(admin, JOB, { id: finished })).data?.job.userId).toBe(env.alice.user.id);
    expect(await env.listed(admin)).toContain(finished);
    // The secrets are per user: bob's signs nothing of alice's.
    const bobs = (await env.as(env.bob.authorization, SIGNING_SECRET)).data?.jobSigningSecret;
    expect(bobs).toMatch(/^whsec_/);
    expect(bobs).not.toBe((await env.as(env.alice.authorization, SIGNING_SECRET)).data?.jobSigningSecret);
  });

  it('tokens need jobs:read to read and jobs:write to change; anonymous callers are refused', async () => {
    const input = { url: env.url('/service') };
    const readOnly = await env.alice.token(['jobs:read']);
    expect((await env.as(readOnly.authorization, CREATE_JOB, { input })).data?.createJob).toEqual({
      __typename: 'ForbiddenError',
      message: 'Creating jobs needs the jobs:write scope',
    });
    expect((await env.as(readOnly.authorization, CANCEL_JOB, { id: finished })).data?.cancelJob.__typename).toBe(
      'ForbiddenError',
    );
    expect((await env.as(readOnly.authorization, ROTATE_SIGNING_SECRET)).data?.rotateJobSigningSecret.__typename).toBe(
      'ForbiddenError',
    );
    expect((await env.as(readOnly.authorization, JOB, { id: finished })).data?.job.id).toBe(finished);
    expect(await env.listed(readOnly.authorization)).toContain(finished);
    expect((await env.as(readOnly.authorization, SIGNING_SECRET)).data?.jobSigningSecret).toMatch(/^whsec_/);

    const writer = await env.alice.token(['jobs:write']);
    const made = await env.create(writer.authorization, input);
    expect((await env.as(env.alice.authorization, JOB, { id: made })).data?.job.userId).toBe(env.alice.user.id);

    const queuesOnly = await env.alice.token(['queues:read']);
    for (const [query, variables] of [
      [JOB, { id: finished }],
      [JOBS, {}],
      [SIGNING_SECRET, {}],
    ] as const) {
      expect((await env.as(queuesOnly.authorization, query, variables)).errors?.[0]?.extensions?.code).toBe(
        'FORBIDDEN',
      );
    }
    for (const [query, variables] of [
      [CREATE_JOB, { input }],
      [CANCEL_JOB, { id: finished }],
      [ROTATE_SIGNING_SECRET, {}],
      [JOB, { id: finished }],
      [JOBS, {}],
      [SIGNING_SECRET, {}],
    ] as const) {
      const anonymous = await gql(env.server, query, { variables });
      expect(anonymous.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses malformed ids and cursors as client errors; an unknown job is not found', async () => {
    for (const [query, variables] of [
      [JOB, { id: 'abc' }],
      [JOB, { id: '12' }],
      [CANCEL_JOB, { id: 'not-a-uuid' }],
      [JOBS, { after: 'abc' }],
      [JOBS, { before: `1:${MISSING}:x` }],
      [JOBS, { after: `99999999999999999999:${MISSING}` }],
    ] as const) {
      const body = await env.as(env.alice.authorization, query, variables);
      expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect((await env.as(env.alice.authorization, JOB, { id: MISSING })).errors?.[0]?.extensions?.code).toBe(
      'NOT_FOUND',
    );
    expect((await env.as(env.alice.authorization, CANCEL_JOB, { id: MISSING })).data?.cancelJob.__typename).toBe(
      'NotFoundError',
    );
  });

  it("jobUpdates refuses another member's job, malformed ids and tokens without the scope", async () => {
    const queuesOnly = await env.alice.token(['queues:read']);
    for (const [authorization, id, code] of [
      [env.bob.authorization, finished, 'NOT_FOUND'],
      [env.alice.authorization, MISSING, 'NOT_FOUND'],
      [env.alice.authorization, 'nope', 'BAD_USER_INPUT'],
      [queuesOnly.authorization, finished, 'FORBIDDEN'],
    ] as const) {
      await expectSubscriptionRefused(env.server.wsUrl, authorization, JOB_UPDATES, { id }, code);
    }
  });
});
