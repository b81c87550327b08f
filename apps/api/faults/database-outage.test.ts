import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN, basic, gql } from '../test/harness.ts';
import { type ServerProcess, startServerProcess } from '../test/processes.ts';
import { type PrivatePostgres, startPrivatePostgres } from './private-postgres.ts';
import { type RequestKind, type Sample, startTraffic, type Traffic } from './traffic.ts';

/** How soon after the database fails every request must have its answer. */
const ANSWER_WITHIN_MS = 3_000;
/** How soon after the database is back ingest and publish must succeed again. */
const RECOVER_WITHIN_MS = 2_000;
/** How long each outage lasts: longer than the answer deadline, so that requests meet a dead database. */
const OUTAGE_MS = 5_000;

const QUEUE = 'outage';
const EVENT_TYPE = 'outage.tick';
const KINDS: RequestKind[] = ['ingest', 'publish', 'graphql'];

describe('finding 7: a database outage answers 503 at once and service resumes when the database returns', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-outage-'));
  let cluster: PrivatePostgres;
  let databaseUrl: string;
  let server: ServerProcess | undefined;
  let traffic: Traffic | undefined;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    databaseUrl = await cluster.createDatabase('switchboard');
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify({ queues: [{ name: QUEUE }] }));
    server = await startServerProcess({
      DATABASE_URL: databaseUrl,
      ADMIN_PASSWORD: ADMIN.password,
      SWITCHBOARD_CONFIG: configPath,
      LOG_LEVEL: 'fatal',
    });
    const created = await gql(
      server,
      'mutation($input: EventTypeInput!) { createEventType(input: $input) { __typename } }',
      { variables: { input: { name: EVENT_TYPE } }, authorization: basic(ADMIN.username, ADMIN.password) },
    );
    expect(created.body.data?.createEventType.__typename).toBe('CreateEventTypeSuccess');
    const token = await gql(
      server,
      `mutation($input: CreateTokenInput!) { createToken(input: $input) {
        __typename ... on CreateTokenSuccess { created { secret } } } }`,
      {
        variables: { input: { name: 'outage', scopes: ['admin', 'events:publish', 'queues:read'] } },
        authorization: basic(ADMIN.username, ADMIN.password),
      },
    );
    const secret = token.body.data?.createToken.created?.secret as string;
    expect(secret, JSON.stringify(token.body)).toBeTruthy();
    // Admin's Basic credentials would cost a password hash per request; a token does not.
    traffic = startTraffic(
      { url: server.url, queue: QUEUE, eventType: EVENT_TYPE, authorization: `Bearer ${secret}` },
      { ingest: 3, publish: 2, graphql: 1 },
    );
    for (const kind of KINDS) {
      await traffic.waitFor(`a first successful ${kind}`, (s) => s.kind === kind && isSuccess(s), 20_000);
    }
  }, 120_000);

  afterAll(async () => {
    await traffic?.stop();
    await server?.kill('SIGKILL');
    await cluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the database stopped: 503 with Retry-After within 3 s, success within 2 s of its return', async () => {
    const live = traffic as Traffic;
    const failedAt = Date.now();
    await cluster.stop();
    const downAt = Date.now();
    await sleepWithTrafficRunning(OUTAGE_MS);
    await cluster.start();
    const backAt = Date.now();
    await checkOutage(live, { failedAt, downAt, backAt });
  });

  it('with the database frozen (SIGSTOP): 503 with Retry-After within 3 s, success within 2 s of its thaw', async () => {
    const live = traffic as Traffic;
    const failedAt = Date.now();
    await cluster.freeze();
    const downAt = Date.now();
    await sleepWithTrafficRunning(OUTAGE_MS);
    await cluster.thaw();
    const backAt = Date.now();
    await checkOutage(live, { failedAt, downAt, backAt });
  });

  it('streams live again after the outages: a new subscriber hears of a message ingested after them', async () => {
    const live = server as ServerProcess;
    const client = createClient({
      url: `${live.url.replace('http', 'ws')}/graphql`,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization: basic(ADMIN.username, ADMIN.password) },
      webSocketImpl: WebSocket,
    });
    try {
      const seen: number[] = [];
      let failure: unknown;
      const subscribed = new Promise<void>((resolve) => {
        client.on('connected', () => resolve());
      });
      client.subscribe(
        { query: `subscription { queueMessages(queue: "${QUEUE}") { __typename ... on Message { seq } } }` },
        {
          next: (value) => {
            const event = (value.data as { queueMessages?: { seq?: number } } | null)?.queueMessages;
            if (typeof event?.seq === 'number') seen.push(event.seq);
          },
          error: (error) => {
            failure = error;
          },
          complete: () => {},
        },
      );
      await subscribed;
      // Ingested until one reaches the subscriber: the first may come before the subscription is
      // registered; only the LISTEN connection carries the news to the stream.
      const deadline = Date.now() + 10_000;
      let acknowledged = 0;
      while (!seen.includes(acknowledged)) {
        expect(failure, 'the stream failed').toBeUndefined();
        if (Date.now() > deadline) throw new Error(`the stream heard of none of the messages up to ${acknowledged}`);
        const response = await fetch(`${live.url}/q/${QUEUE}`, { method: 'POST', body: '{"after":"outages"}' });
        expect(response.status).toBe(200);
        acknowledged = ((await response.json()) as { id: number }).id;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      await client.dispose();
    }
  });

  it('lost no acknowledged message or event', async () => {
    const live = traffic as Traffic;
    // Some more traffic after the last return, so that acknowledged writes span every phase.
    const ended = Date.now();
    for (const kind of ['ingest', 'publish'] as const) {
      await live.waitFor(
        `a tenth ${kind} acknowledged after the outages`,
        () => live.samples.filter((s) => s.kind === kind && s.startedAt > ended && s.acknowledged).length >= 10,
        20_000,
      );
    }
    await live.stop();
    const samples = live.samples;
    const messages = samples.flatMap((s) => (s.acknowledged && 'seq' in s.acknowledged ? [s.acknowledged] : []));
    const events = samples.flatMap((s) => (s.acknowledged && 'eventId' in s.acknowledged ? [s.acknowledged] : []));
    expect(messages.length).toBeGreaterThanOrEqual(10);
    expect(events.length).toBeGreaterThanOrEqual(10);
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const storedMessages = await sql<Array<{ seq: string; body: Buffer }>>`
        select m.seq::text as seq, m.body from messages m join queues q on q.id = m.queue_id where q.name = ${QUEUE}`;
      const bodies = new Map(storedMessages.map((row) => [Number(row.seq), row.body.toString('utf8')]));
      expect(messages.filter((m) => bodies.get(m.seq) !== m.body).map((m) => m.seq)).toEqual([]);
      const storedEvents = await sql<
        Array<{ id: string }>
      >`select id::text as id from events where type = ${EVENT_TYPE}`;
      const ids = new Set(storedEvents.map((row) => row.id));
      expect(events.filter((e) => !ids.has(e.eventId)).map((e) => e.eventId)).toEqual([]);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  /**
   * Judges every request that met the outage: each one answered within ANSWER_WITHIN_MS of the
   * later of its start and the failure; each one that started once the database was down and
   * ended before it came back was a 503 with Retry-After. Then, for each of ingest and publish,
   * a success started after the return, within RECOVER_WITHIN_MS of it.
   */
  async function checkOutage(live: Traffic, at: { failedAt: number; downAt: number; backAt: number }) {
    const recovered: Partial<Record<RequestKind, Sample>> = {};
    for (const kind of ['ingest', 'publish'] as const) {
      recovered[kind] = await live.waitFor(
        `a successful ${kind} after the database came back`,
        (s) => s.kind === kind && s.startedAt >= at.backAt && isSuccess(s),
        30_000,
      );
    }
    await live.settled(at.backAt, 40_000);
    const met = live.samples.filter((s) => s.endedAt >= at.failedAt && s.startedAt <= at.backAt);
    const late = met
      .filter((s) => s.endedAt - Math.max(s.startedAt, at.failedAt) > ANSWER_WITHIN_MS)
      .map((s) => explain(s, at.failedAt));
    expect(late, 'requests answered later than 3 s after the failure').toEqual([]);
    const duringOutage = met.filter((s) => s.startedAt >= at.downAt && s.endedAt <= at.backAt);
    for (const kind of KINDS) {
      expect(duringOutage.filter((s) => s.kind === kind).length, `${kind} requests during the outage`).toBeGreaterThan(
        0,
      );
    }
    const wrong = duringOutage
      .filter(
        (s) =>
          s.status !== 503 ||
          !/^\d+$/.test(s.retryAfter ?? '') ||
          (s.kind === 'graphql' && s.errorCode !== 'SERVICE_UNAVAILABLE'),
      )
      .map((s) => explain(s, at.failedAt));
    expect(wrong, 'requests during the outage that were not a 503 with Retry-After').toEqual([]);
    const slowest = Math.max(...met.map((s) => s.endedAt - Math.max(s.startedAt, at.failedAt)));
    console.info(
      `outage: slowest answer ${slowest} ms after the failure; first ingest ${(recovered.ingest as Sample).endedAt - at.backAt} ms and publish ${(recovered.publish as Sample).endedAt - at.backAt} ms after the return`,
    );
    for (const kind of ['ingest', 'publish'] as const) {
      const first = recovered[kind] as Sample;
      expect(first.endedAt - at.backAt, `first successful ${kind} after the return (ms)`).toBeLessThanOrEqual(
        RECOVER_WITHIN_MS,
      );
    }
  }

  async function sleepWithTrafficRunning(ms: number) {
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
});

function isSuccess(sample: Sample): boolean {
  return sample.status >= 200 && sample.status < 300;
}

function explain(sample: Sample, failedAt: number): string {
  return `${sample.kind} started ${sample.startedAt - failedAt} ms, ended ${sample.endedAt - failedAt} ms after the failure: ${sample.status} retry-after=${sample.retryAfter} ${sample.errorCode ?? ''}`;
}
