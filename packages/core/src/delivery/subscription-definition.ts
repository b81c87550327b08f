import { z } from 'zod';
import { signingSchema } from '../outbound/signing.ts';
import { CLIENT_MANAGED_HEADERS, headersSchema } from '../shared/http-header.ts';
import { BODY_FORMATS } from './body-format.ts';
import { isValidPattern } from './patterns.ts';
import { checkFilter } from './payload-filter.ts';

/** Headers a subscription may not set: the signature's own, and what HTTP itself manages. */
const RESERVED_HEADERS = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'content-length',
  'content-type',
  'host',
  ...CLIENT_MANAGED_HEADERS,
]);

/** Where Switchboard may send requests: http or https, no credentials written into the URL. */
export const httpUrlSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials in it');

/**
 * A URL as logs may show it: its query string is left out, since receivers often take a token
 * there (the Webhook test tool told its users to).
 */
export function loggableUrl(value: string): string {
  try {
    const url = new URL(value);
    return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
  } catch {
    return '[not a URL]';
  }
}

export const DEFAULT_DISABLE_AFTER_FAILURES = 100;
export const DEFAULT_DISABLE_AFTER_MS = 5 * 86_400_000;

export const retryPolicySchema = z
  .object({
    scheduleMs: z
      .array(
        z
          .number()
          .int()
          .min(0)
          .max(7 * 86_400_000),
      )
      .min(1)
      .max(50)
      .optional(),
    maxAttempts: z.number().int().min(1).max(50).optional(),
    maxTotalMs: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400_000)
      .optional(),
  })
  .strict();

export const subscriptionDefinitionSchema = z.object({
  name: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$/,
      'must be 1 to 100 letters, digits, spaces, dots, dashes or underscores',
    ),
  description: z.string().max(1000).nullable().optional(),
  url: httpUrlSchema,
  eventTypes: z
    .array(z.string().refine(isValidPattern, 'is not an event-type pattern such as invoice.paid, invoice.* or *'))
    .min(1, 'must name at least one event type or pattern'),
  filter: z
    .record(z.string(), z.unknown())
    .nullable()
    .optional()
    .superRefine((filter, ctx) => {
      if (!filter) return;
      // Each problem at its own path under `filter`, such as filter.data.s.$regex.
      for (const problem of checkFilter(filter)) {
        const inside = problem.path.replace(/^filter\.?/, '');
        ctx.addIssue({ code: 'custom', path: inside ? [inside] : [], message: problem.message });
      }
    }),
  headers: headersSchema(4096)
    .default({})
    .refine((headers) => Object.keys(headers).every((h) => !RESERVED_HEADERS.has(h.toLowerCase())), {
      message: `may not set ${[...RESERVED_HEADERS].join(', ')}`,
    }),
  signing: signingSchema.default({ scheme: 'standard-webhooks' }),
  /** Generated when left out; shorter than 16 characters only from a config file (servo-webhooks' `s3cr3t`). */
  secret: z.string().min(1, 'must not be empty').max(512).optional(),
  timeoutMs: z.number().int().min(100).max(60_000).default(15_000),
  retryPolicy: retryPolicySchema.default({}),
  rateLimitPerSecond: z.number().int().min(1).max(100_000).nullable().optional(),
  /** Requests a worker keeps open to it at once; null: the worker's default (a quarter of its slots). */
  maxInFlight: z.number().int().min(1).max(1000).nullable().optional(),
  mode: z.enum(['async', 'blocking']).default('async'),
  /** `webhook-test`: the Webhook test tool's body (`id`, `event`, `time`, `payload`) instead of the envelope. */
  bodyFormat: z.enum(BODY_FORMATS).default('standard'),
  /** Disable after this many deliveries in a row failed for good; null: never for that reason. */
  disableAfterFailures: z.number().int().min(1).max(1_000_000).nullable().default(DEFAULT_DISABLE_AFTER_FAILURES),
  /** Disable once failing this long without a success; null: never for that reason. */
  disableAfterMs: z
    .number()
    .int()
    .min(60_000)
    .max(365 * 86_400_000)
    .nullable()
    .default(DEFAULT_DISABLE_AFTER_MS),
  /**
   * Disable once more than this many attempts failed (each try counts, and a success does not
   * reset the count), as the Webhook test tool did; null: never for that reason.
   */
  maxFailedAttempts: z.number().int().min(0).max(1_000_000).nullable().default(null),
});

export type SubscriptionDefinition = z.input<typeof subscriptionDefinitionSchema>;

/**
 * What an update names. A field left out (undefined) keeps its stored value; null clears a field
 * that may be null (for the disable thresholds: never) and sets any other back to its default.
 */
export type SubscriptionChanges = { [K in keyof SubscriptionDefinition]?: SubscriptionDefinition[K] | null };

/** Fields whose null is a value of their own rather than "the default". */
const NULLABLE_FIELDS: ReadonlySet<string> = new Set([
  'description',
  'filter',
  'rateLimitPerSecond',
  'maxInFlight',
  'disableAfterFailures',
  'disableAfterMs',
  'maxFailedAttempts',
]);

/** The stored definition (the secret aside) with the changes laid over it, to be parsed again. */
export function applyChanges(stored: StoredDefinition, changes: SubscriptionChanges): SubscriptionDefinition {
  const merged: Record<string, unknown> = {
    name: stored.name,
    description: stored.description,
    url: stored.url,
    eventTypes: stored.eventTypes,
    filter: stored.filter,
    headers: stored.headers,
    signing: stored.signing,
    timeoutMs: stored.timeoutMs,
    retryPolicy: stored.retryPolicy,
    rateLimitPerSecond: stored.rateLimitPerSecond,
    maxInFlight: stored.maxInFlight,
    mode: stored.mode,
    bodyFormat: stored.bodyFormat,
    disableAfterFailures: stored.disableAfterFailures,
    disableAfterMs: stored.disableAfterMs,
    maxFailedAttempts: stored.maxFailedAttempts,
  };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    if (value === null && !NULLABLE_FIELDS.has(key)) delete merged[key];
    else merged[key] = value;
  }
  return merged as SubscriptionDefinition;
}

/** What applyChanges reads of a stored subscription. */
export type StoredDefinition = {
  [K in Exclude<keyof SubscriptionDefinition, 'secret'>]-?: unknown;
};
