import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type Core, createCore, systemPrincipal } from '@switchboard/core';
import { createDatabaseClient, type DatabaseClient, migrateDatabase } from '@switchboard/db';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { type Env, templateEnvironment } from './env.ts';
import { createActionMetrics } from './http/action-metrics.ts';
import { createDeliveryMetrics } from './http/metrics.ts';
import { buildServer } from './server.ts';

export interface Switchboard {
  app: FastifyInstance;
  core: Core;
  database: DatabaseClient;
  /** Set when this start created the first admin with a generated password. */
  generatedAdminPassword?: string;
  stop(): Promise<void>;
}

export async function openDatabase(
  env: Pick<Env, 'DATABASE_URL' | 'DATA_DIR'> &
    Partial<Pick<Env, 'DATABASE_CONNECT_TIMEOUT_MS' | 'DATABASE_QUERY_TIMEOUT_MS'>>,
  logger?: Logger,
): Promise<DatabaseClient> {
  const database = await createDatabaseClient({
    url: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS,
    onAvailabilityChange: (available, reason) => {
      if (available) logger?.warn('the database answers again; requests are served');
      else logger?.error({ reason }, 'the database does not answer; requests get 503 until it does');
    },
  });
  try {
    await migrateDatabase(database, env.DATABASE_URL);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/**
 * Wires the service once: database (migrated), core services, the first admin on an empty
 * database, and the HTTP server. Tests pass their own database; `serve` lets this open one.
 */
export async function createSwitchboard(options: {
  env: Env;
  logger: Logger;
  database?: DatabaseClient;
  core?: Parameters<typeof createCore>[0]['auth'];
  /** Tests give their own resolver or sender. */
  delivery?: Parameters<typeof createCore>[0]['delivery'];
  /** The console's static export (apps/console/out unless given). */
  consoleDir?: string;
  /** Tests give their own environment for templates, or a Docker host. */
  actions?: Parameters<typeof createCore>[0]['actions'];
}): Promise<Switchboard> {
  const { env, logger } = options;
  const database = options.database ?? (await openDatabase(env, logger));
  const configPath = env.SWITCHBOARD_CONFIG;
  const metrics = new Registry();
  // The worker is built by createCore; the gauge reads it once it exists.
  let core: Core | undefined;
  const observe = createDeliveryMetrics(metrics, () => core?.worker.active ?? 0);
  core = createCore({
    db: database.db,
    logger,
    pubsub: database,
    auth: options.core,
    readConfig: configPath ? () => readFile(configPath, 'utf8') : undefined,
    ingest: { maxInflightBytes: env.INGEST_MAX_INFLIGHT_BYTES },
    actions: {
      allowCommands: env.ALLOW_COMMANDS,
      dockerHost: env.DOCKER_HOST,
      env: templateEnvironment(),
      readFile: readSmallFile,
      metrics: createActionMetrics(metrics),
      ...options.actions,
    },
    delivery: {
      allowedNetworks: env.DELIVERY_ALLOWED_NETWORKS,
      worker: { concurrency: env.DELIVERY_CONCURRENCY },
      observe,
      ...options.delivery,
    },
  });

  const bootstrap = await core.users.bootstrapAdmin({ username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD });
  if (!bootstrap.ok) {
    await database.close();
    throw new Error(`Could not create the first admin: ${bootstrap.error.message}`);
  }
  if (bootstrap.value.created) logger.info({ username: env.ADMIN_USERNAME }, 'first admin created');

  if (configPath) {
    const applied = await core.config.reload(systemPrincipal).catch((error: Error) => ({
      ok: false as const,
      error: { code: 'INVALID' as const, message: error.message, fields: [] },
    }));
    if (!applied.ok) {
      await database.close();
      const details = applied.error.fields?.map((f) => `\n  ${f.path}: ${f.message}`).join('') ?? '';
      throw new Error(`SWITCHBOARD_CONFIG ${configPath}: ${applied.error.message}${details}`);
    }
    for (const notice of applied.value.notices) logger.warn({ config: configPath }, notice);
  }
  // `api` processes leave deliveries to `worker` processes; `all` does both.
  await core.start({ worker: env.ROLE !== 'api' });

  const app = await buildServer({
    core,
    database,
    env,
    logger,
    role: env.ROLE,
    startedAt: new Date(),
    metrics,
    consoleDir: options.consoleDir,
  });
  return {
    app,
    core,
    database,
    ...(bootstrap.value.generatedPassword ? { generatedAdminPassword: bootstrap.value.generatedPassword } : {}),
    async stop() {
      // The server stops taking requests while the workers stop claiming; core waits for both.
      await core.stop({ whileStopping: () => app.close() });
      if (!options.database) await database.close();
    },
  };
}

/** Files that `read_config` and compose actions read: small text files (secrets, compose files), at most 1 MiB. */
function readSmallFile(path: string): string | null {
  try {
    const text = readFileSync(path);
    return text.length > 1024 * 1024 ? null : text.toString('utf8');
  } catch {
    return null;
  }
}
