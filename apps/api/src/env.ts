import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * The one place that reads settings. Every setting is validated here, and a bad one stops the
 * process at start with a message that names it.
 */
const cidrList = z
  .string()
  .default('')
  .transform((value) =>
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .pipe(
    z.array(
      z.string().refine(isCidr, {
        error: (issue) => `"${String(issue.input)}" is not a CIDR such as 10.0.0.0/8`,
      }),
    ),
  );

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
  SHUTDOWN_TIMEOUT_MS: z.preprocess(
    blankAsUnset,
    z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(0, 'must not be negative')
      .default(10_000),
  ),
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
