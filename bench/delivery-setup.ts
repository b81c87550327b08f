/**
 * What the delivery benchmark sets up through @switchboard/core on the benchmark's database (the
 * same services the CLI and the API use): a user with a publishing token, event types and
 * subscriptions. And the ways it publishes: `POST /events` when the server has that route, the
 * GraphQL `publishEvent` mutation when it has that instead, and otherwise core's publisher in the
 * load generator's process (the worker then learns of events through NOTIFY, as it does from any
 * other API process).
 */
import { randomBytes } from 'node:crypto';
import { type Core, createCore, type Principal, systemPrincipal } from '@switchboard/core';
import { createDatabaseClient, type DatabaseClient, migrateDatabase } from '@switchboard/db';
import { Pool } from 'undici';

export const EVENT_TYPES = { backlog: 'bench.backlog', latency: 'bench.latency', fanout: 'bench.fanout' } as const;

export interface BenchCore {
  database: DatabaseClient;
  core: Core;
  /** The benchmark user, acting through a token with `events:publish` only. */
  publisher: Principal;
  userId: string;
  /** That token, for `Authorization: Bearer`. */
  token: string;
  close(): Promise<void>;
}

function expectOk<T>(result: { ok: true; value: T } | { ok: false; error: { message: string } }, what: string): T {
  if (!result.ok) throw new Error(`${what}: ${result.error.message}`);
  return result.value;
}

/** Migrates the fresh database and creates the user, token and event types. */
export async function openBenchCore(dbUrl: string): Promise<BenchCore> {
  const database = await createDatabaseClient({ url: dbUrl, maxConnections: 16 });
  await migrateDatabase(database, dbUrl);
  const core = createCore({ db: database.db, pubsub: database, delivery: { allowedNetworks: ['127.0.0.0/8'] } });
  const user = expectOk(
    await core.users.create(systemPrincipal, { username: 'bench', password: randomBytes(16).toString('hex') }),
    'creating the benchmark user',
  );
  const token = expectOk(
    await core.tokens.create(systemPrincipal, { userId: user.id, name: 'bench', scopes: ['events:publish'] }),
    'creating the publishing token',
  );
  for (const name of Object.values(EVENT_TYPES)) {
    expectOk(await core.eventTypes.create(systemPrincipal, { name }), `creating event type ${name}`);
  }
  return {
    database,
    core,
    userId: user.id,
    token: token.secret,
    publisher: {
      user: { id: user.id, username: user.username, role: user.role },
      via: 'token',
      scopes: ['events:publish'],
      tokenId: token.token.id,
    },
    async close() {
      await core.stop();
      await database.close();
    },
  };
}

/** Subscriptions of the benchmark user to one event type, `count` of them, each at its own path. */
export async function createSubscriptions(
  bench: BenchCore,
  input: { eventType: string; url: (index: number) => string; name: (index: number) => string; count: number },
): Promise<void> {
  let next = 0;
  const createOne = async () => {
    for (let i = next++; i < input.count; i = next++) {
      expectOk(
        await bench.core.subscriptions.create(
          systemPrincipal,
          { name: input.name(i), url: input.url(i), eventTypes: [input.eventType] },
          { userId: bench.userId },
        ),
        `creating subscription ${input.name(i)}`,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, input.count) }, createOne));
}

export type PublishOne = (type: string, payload: unknown) => Promise<{ ok: true } | { ok: false; error: string }>;

export interface Publisher {
  /** How events reach Switchboard, for the report. */
  via: string;
  publish: PublishOne;
  close(): Promise<void>;
}

/** Publishing through core in this process. */
export function publishThroughCore(bench: BenchCore): Publisher {
  return {
    via: 'core publisher in the load generator (NOTIFY to the worker)',
    async publish(type, payload) {
      const result = await bench.core.publisher.publish(bench.publisher, { type, payload });
      return result.ok ? { ok: true } : { ok: false, error: result.error.message };
    },
    close: async () => {},
  };
}

/**
 * The first way the server takes: `POST /events`, else GraphQL `publishEvent`, else core. The probe
 * publishes one `probeType` event, which should have no subscriptions yet.
 */
export async function choosePublisher(serverUrl: string, bench: BenchCore, probeType: string): Promise<Publisher> {
  const pool = new Pool(serverUrl, { connections: 64, keepAliveTimeout: 30_000 });
  const authorization = `Bearer ${bench.token}`;
  const viaRest: PublishOne = async (type, payload) => {
    const response = await pool.request({
      path: '/events',
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ type, payload }),
    });
    const text = await response.body.text();
    if (response.statusCode >= 200 && response.statusCode < 300) return { ok: true };
    return { ok: false, error: `HTTP ${response.statusCode}: ${text.slice(0, 200)}` };
  };
  const probe = await pool.request({
    path: '/events',
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ type: probeType, payload: { probe: true } }),
  });
  const probeText = await probe.body.text();
  if (probe.statusCode >= 200 && probe.statusCode < 300) {
    return { via: 'POST /events', publish: viaRest, close: () => pool.close() };
  }
  if (probe.statusCode !== 404) {
    await pool.close();
    throw new Error(`POST /events answered ${probe.statusCode}: ${probeText.slice(0, 300)}`);
  }

  const viaGraphql = await findPublishMutation(pool, authorization);
  if (viaGraphql) {
    const probed = await viaGraphql(probeType, { probe: true });
    if (!probed.ok) {
      await pool.close();
      throw new Error(`GraphQL publishEvent failed: ${probed.error}`);
    }
    return { via: 'GraphQL publishEvent (POST /events is not there)', publish: viaGraphql, close: () => pool.close() };
  }
  await pool.close();
  const core = publishThroughCore(bench);
  return { ...core, via: `${core.via}: the server has neither POST /events nor publishEvent` };
}

interface IntrospectedType {
  kind: string;
  name: string | null;
  ofType: IntrospectedType | null;
}

const typeRef = (t: IntrospectedType): string =>
  t.kind === 'NON_NULL'
    ? `${typeRef(t.ofType as IntrospectedType)}!`
    : t.kind === 'LIST'
      ? `[${typeRef(t.ofType as IntrospectedType)}]`
      : String(t.name);

/** A publish function over the `publishEvent` mutation, shaped after its arguments; null when absent. */
async function findPublishMutation(pool: Pool, authorization: string): Promise<PublishOne | null> {
  const post = async (query: string, variables?: Record<string, unknown>) => {
    const response = await pool.request({
      path: '/graphql',
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.statusCode, json: (await response.body.json().catch(() => null)) as GraphqlReply | null };
  };
  const shape = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';
  const found = await post(`{ __schema { mutationType { fields { name args { name type { ${shape} } } } } } }`);
  const fields = found.json?.data?.__schema?.mutationType?.fields ?? [];
  const mutation = fields.find((f) => f.name === 'publishEvent');
  if (!mutation) return null;
  const byName = new Map(mutation.args.map((a) => [a.name, typeRef(a.type)]));
  let query: string;
  let variables: (type: string, payload: unknown) => Record<string, unknown>;
  if (byName.has('input')) {
    query = `mutation ($input: ${byName.get('input')}) { publishEvent(input: $input) { __typename } }`;
    variables = (type, payload) => ({ input: { type, payload } });
  } else if (byName.has('type') && byName.has('payload')) {
    query = `mutation ($type: ${byName.get('type')}, $payload: ${byName.get('payload')}) { publishEvent(type: $type, payload: $payload) { __typename } }`;
    variables = (type, payload) => ({ type, payload });
  } else {
    return null;
  }
  return async (type, payload) => {
    const { status, json } = await post(query, variables(type, payload));
    const typename = (json?.data?.publishEvent as { __typename?: string } | undefined)?.__typename ?? '';
    if (status === 200 && !json?.errors && !/error/i.test(typename)) return { ok: true };
    return { ok: false, error: `HTTP ${status}: ${JSON.stringify(json?.errors ?? typename).slice(0, 200)}` };
  };
}

interface GraphqlReply {
  data?: {
    __schema?: {
      mutationType?: { fields: Array<{ name: string; args: Array<{ name: string; type: IntrospectedType }> }> };
    };
    publishEvent?: unknown;
  };
  errors?: unknown[];
}
