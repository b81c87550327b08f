import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * The one place that reads settings. Every setting is validated here, and a bad one stops the
 * process at start with a message that names it.
 */
/** A comma-separated list setting, each entry trimmed and checked; empty means none. */
const commaList = (check: (entry: string) => boolean, describe: (entry: string) => string) =>
  z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().refine(check, { error: (issue) => describe(String(issue.input)) })));

const cidrList = commaList(isCidr, (entry) => `"${entry}" is not a CIDR such as 10.0.0.0/8`);

function isCidr(value: string): boolean {
  const match = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value);
  const version = match ? isIP(match[1] as string) : 0;
  return version !== 0 && Number(match?.[2]) <= (version === 4 ? 32 : 128);
}

// `PORT=` (set but empty, as compose files and .env templates often leave it) must not coerce to 0.
const blankAsUnset = (value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

const port = z.coerce
  .number({ error: 'must be a number' })
  .int('must be a whole number')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

/**
 * Exact browser origins (`https://console.example.com`): scheme, host and port only, as browsers
 * send them in `Origin`. Anything else would never match, so it is refused rather than ignored.
 */
const originList = commaList(
  isOrigin,
  (entry) =>
    `"${entry}" is not an origin such as https://console.example.com (http or https, host and optional port, no path, no trailing slash, no wildcard)`,
);

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
}

/** A whole number setting within bounds; blank means the default. */
const boundedInt = (min: number, max: number, fallback: number) =>
  z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(min, `must be between ${min} and ${max}`)
      .max(max, `must be between ${min} and ${max}`)
      .default(fallback),
  );

export const envSchema = z.object({
  PORT: z.preprocess(blankAsUnset, port.default(4000)),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
        .optional(),
    ),
  DATA_DIR: z.string().min(1, 'must not be empty').default('.switchboard'),
  ADMIN_USERNAME: z.string().min(1, 'must not be empty').default('admin'),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  SWITCHBOARD_CONFIG: z.string().min(1).optional(),
  ROLE: z.enum(['all', 'api', 'worker'], { error: 'must be one of all, api, worker' }).default('all'),
  DELIVERY_ALLOWED_NETWORKS: cidrList,
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** `Secure` on the session cookie: `auto` sets it when the request came over HTTPS; use `true` behind a TLS proxy. */
  COOKIE_SECURE: z.enum(['auto', 'true', 'false'], { error: 'must be auto, true or false' }).default('auto'),
  /** Proxies whose X-Forwarded-For is believed (CIDRs or addresses); the socket address otherwise. */
  TRUSTED_PROXIES: cidrList,
  /** The largest body `POST /q/:queue` reads at all; each queue may set a smaller limit. */
  INGEST_MAX_BODY_BYTES: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100 * 1024 * 1024, 'must be at most 104857600 (100 MiB)')
      .default(10 * 1024 * 1024),
  ),
  /**
   * Bytes of inbound bodies one process holds at once (declared lengths, counted until each write
   * settles); past it `POST /q/:queue` answers 503 with Retry-After before reading the body.
   */
  INGEST_MAX_INFLIGHT_BYTES: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1024, 'must be at least 1024')
      .default(64 * 1024 * 1024),
  ),
  /** Delivery requests a worker process has in flight at once. */
  DELIVERY_CONCURRENCY: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be between 1 and 1000')
      .max(1000, 'must be between 1 and 1000')
      .default(64),
  ),
  /**
   * Postgres: the longest opening a connection may take. It is also how long a statement may go
   * unanswered (halved) before a fresh connection probes the server, and that probe's own limit: a
   * server that does not answer (stopped, frozen, cut off) is detected within 1.5 times it; requests
   * then get 503 with Retry-After at once until it answers again.
   */
  DATABASE_CONNECT_TIMEOUT_MS: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(100, 'must be between 100 and 60000')
      .max(60_000, 'must be between 100 and 60000')
      .default(1_000),
  ),
  /** Postgres: the longest one statement or transaction may take (client deadline and statement_timeout). */
  DATABASE_QUERY_TIMEOUT_MS: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(100, 'must be between 100 and 3600000')
      .max(3_600_000, 'must be between 100 and 3600000')
      .default(10_000),
  ),
  SHUTDOWN_TIMEOUT_MS: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(0, 'must not be negative')
      .default(10_000),
  ),
  /** Browser origins allowed credentialed CORS and cookie/Basic writes besides the server's own; none by default. */
  CORS_ALLOWED_ORIGINS: originList,
  /**
   * Time a client has to send a whole request, headers and body (408 past it). Responses that
   * take long (streams, WebSockets) are not limited by it.
   */
  REQUEST_TIMEOUT_MS: boundedInt(100, 3_600_000, 30_000),
  /** Open sockets (HTTP and WebSocket) one process accepts; further ones are closed at once. */
  MAX_CONNECTIONS: boundedInt(1, 1_000_000, 10_000),
  /** Operations running at once on one graphql-ws socket; one more closes it with 4429. */
  WS_MAX_OPERATIONS_PER_SOCKET: boundedInt(1, 10_000, 100),
  /**
   * Whether queues' `execute`, `docker` and `docker-compose` actions may run (true/false): off, an
   * admin's config cannot turn a webhook into a command on this host.
   */
  ALLOW_COMMANDS: z.preprocess(
    blankAsUnset,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'must be true or false' })
      .default('false')
      .transform((v) => ['true', '1', 'yes', 'on'].includes(v)),
  ),
  /** Where the Docker Engine API answers for docker actions: unix:///var/run/docker.sock (default) or tcp://host:port. */
  DOCKER_HOST: z.preprocess(
    blankAsUnset,
    z
      .string()
      .regex(/^(unix|tcp|http|https):\/\//, 'must be unix:///path or tcp://host:port')
      .optional(),
  ),
  /** Who may introspect the GraphQL schema: callers with credentials, anyone, or nobody. */
  GRAPHQL_INTROSPECTION: z
    .enum(['authenticated', 'open', 'off'], { error: 'must be one of authenticated, open, off' })
    .default('authenticated'),
});

export type Env = z.infer<typeof envSchema>;

export class EnvError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'EnvError';
  }
}

/** Settings whose values may hold a secret: an error names them but never repeats the value. */
const SECRET_SETTINGS = new Set(['ADMIN_PASSWORD', 'DATABASE_URL']);

/**
 * The environment that queues' templates may read with `read_config` (webhook-proxy reads secrets
 * such as GITHUB_SECRET there). Only admins and config files write templates.
 */
export function templateEnvironment(
  source: Record<string, string | undefined> = process.env,
): Readonly<Record<string, string | undefined>> {
  return Object.freeze({ ...source });
}

export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const result = envSchema.safeParse(source);
  if (result.success) {
    // Relative to where the operator ran the command: `npm start` runs in apps/api, but npm
    // records the directory it was started from in INIT_CWD.
    const base = source.INIT_CWD ?? process.cwd();
    return {
      ...result.data,
      DATA_DIR: result.data.DATA_DIR.startsWith('memory://')
        ? result.data.DATA_DIR
        : resolve(base, result.data.DATA_DIR),
    };
  }
  throw new EnvError(
    result.error.issues.map((issue) => {
      // A list entry's issue has a path like [setting, index]; report the setting the operator set.
      const name = String(issue.path[0]);
      const given = SECRET_SETTINGS.has(name) ? undefined : source[name];
      return `${name}: ${issue.message}${given === undefined ? '' : ` (got "${given}")`}`;
    }),
  );
}
