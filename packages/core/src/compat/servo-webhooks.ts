// Compatibility: servo-webhooks. Its config's `webhooks:` list, read as its README writes it.

import { z } from 'zod';
import { isValidPattern } from '../delivery/patterns.ts';
import { type SubscriptionDefinition, subscriptionDefinitionSchema } from '../delivery/subscription-definition.ts';
import { isEventTypeName } from '../events/event-types-service.ts';
import { BEFORE_HOOK_SUFFIX } from '../events/hook-phase.ts';
import { parseDuration } from '../outbound/retry-policy.ts';
import type { Signing } from '../outbound/signing.ts';
import { rememberKnownKeys, unknownKeyProblems } from '../shared/unknown-keys.ts';

/**
 * servo-webhooks' `webhooks:` list, accepted as its README writes it. Each entry becomes one
 * subscription, or two when it lists both `before:` (blocking) and `after:` (async) events.
 */
const backoffSchema = z
  .object({
    max_tries: z.number().int().positive().optional(),
    /** servo durations: `30s`, `5m`, `1h`; a bare number is seconds, as in servo. */
    max_time: z.union([z.string(), z.number()], { error: 'must be a duration such as 30s, 5m or 2h' }).optional(),
  })
  .strict();

/** A missing key says so, rather than zod's "expected string, received undefined". */
const missingOr = (message: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : message;

const headerEntry = z
  .object({
    name: z.string({ error: missingOr('must be a string') }),
    value: z.string({ error: missingOr('must be a string') }),
  })
  .strict();

export const servoWebhookSchema = z
  .object({
    name: z.string({ error: 'must be a string' }).min(1).optional(),
    description: z.string({ error: 'must be a string' }).optional(),
    events: z
      .array(z.string({ error: 'must be a string such as after:measure' }), {
        error: missingOr('must be a list, such as [after:measure]'),
      })
      .min(1, 'must list at least one event, such as after:measure'),
    url: z.string({ error: missingOr('must be a URL') }),
    secret: z.string({ error: missingOr('must be a string') }).min(1, 'must not be empty'),
    // The README shows a list of name/value pairs; servo's model also takes a mapping.
    headers: z
      .union([z.array(headerEntry), z.record(z.string(), z.string())], {
        error: 'must be a list of {name, value} or a mapping of header names to values',
      })
      .optional(),
    backoff: z
      .union([z.boolean(), backoffSchema], { error: 'must be true, false, or max_tries and max_time' })
      .optional(),
    /** An addition of ours: `standard-webhooks` signs as the rest of Switchboard does. */
    signing: z.enum(['servo', 'standard-webhooks'], { error: 'must be servo or standard-webhooks' }).optional(),
  })
  .strict();

export type ServoWebhook = z.infer<typeof servoWebhookSchema>;

/** What servo-webhooks sends: `X-Servo-Signature`, the hex HMAC-SHA1 of the body. */
export const SERVO_SIGNING: Signing = {
  scheme: 'hmac',
  header: 'X-Servo-Signature',
  algorithm: 'sha1',
  encoding: 'hex',
  prefix: '',
};

export interface ConfigSubscription {
  /** Where it came from in the file, for messages: `webhooks.0`. */
  path: string;
  definition: SubscriptionDefinition & { name: string; secret: string };
}

export interface ParsedWebhooks {
  subscriptions: ConfigSubscription[];
  /** Event types the webhooks name (not patterns): created when missing, so that they can be published. */
  eventTypes: string[];
  notices: string[];
}

type Problem = { path: string; message: string };

const MIN_SECRET_LENGTH = 16;
const BEFORE_SUFFIX = BEFORE_HOOK_SUFFIX;
const NAME_MAX = 100 - BEFORE_SUFFIX.length;

/**
 * A name in the subscription name rule (letters, digits, spaces, dots, dashes, underscores; a
 * letter or digit first; at most 100 characters with the ` before` suffix): other characters
 * become `_`, and leading non-alphanumerics are dropped. Empty when nothing is left.
 */
export function toSubscriptionName(raw: string): string {
  return raw
    .replace(/[^A-Za-z0-9 ._-]/g, '_')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, NAME_MAX)
    .trimEnd();
}

/** An unnamed webhook is named after its URL's host and path, which stay put across reloads. */
function deriveName(url: string): string {
  try {
    const parsed = new URL(url);
    return toSubscriptionName(`${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`) || 'webhook';
  } catch {
    return 'webhook';
  }
}

export function parseWebhooks(raw: unknown[], problems: Problem[]): ParsedWebhooks {
  // Entries are read one by one, so that the problems of the readable ones are reported too.
  const webhooks = raw.map((entry, index) => {
    const parsed = servoWebhookSchema.safeParse(entry, { error: rememberKnownKeys });
    if (!parsed.success) problems.push(...toConfigProblems(parsed.error.issues, ['webhooks', index]));
    return parsed.data;
  });
  const notices: string[] = [];
  const eventTypes = new Set<string>();
  const subscriptions: ConfigSubscription[] = [];
  const names = assignNames(webhooks, problems);
  webhooks.forEach((webhook, index) => {
    if (!webhook) return;
    const path = `webhooks.${index}`;
    const before: string[] = [];
    const after: string[] = [];
    webhook.events.forEach((event, e) => {
      const match = /^(before|after):(.+)$/.exec(event.trim());
      const type = match?.[2]?.trim() ?? '';
      if (!match || !isValidPattern(type)) {
        problems.push({
          path: `${path}.events.${e}`,
          message: `"${event}" is not before:<event> or after:<event> with a lower-case event name, such as after:measure`,
        });
        return;
      }
      (match[1] === 'before' ? before : after).push(type);
      if (isEventTypeName(type)) eventTypes.add(type);
    });
    const retryPolicy = toRetryPolicy(webhook.backoff, `${path}.backoff`, problems);
    const name = names[index] as string;
    const common = {
      description: webhook.description ?? null,
      url: webhook.url,
      headers: toHeaders(webhook.headers),
      signing: webhook.signing === 'standard-webhooks' ? ({ scheme: 'standard-webhooks' } as const) : SERVO_SIGNING,
      secret: webhook.secret,
      retryPolicy,
    };
    const parts: Array<{ name: string; eventTypes: string[]; mode: 'async' | 'blocking' }> = [];
    if (after.length > 0) parts.push({ name, eventTypes: after, mode: 'async' });
    if (before.length > 0) {
      parts.push({ name: after.length > 0 ? `${name}${BEFORE_SUFFIX}` : name, eventTypes: before, mode: 'blocking' });
    }
    // With no readable event the rest is checked all the same, so that one pass reports everything.
    const checks = parts.length > 0 ? parts : [{ name, eventTypes: ['*'], mode: 'async' as const }];
    for (const part of checks) {
      const definition = { ...common, ...part };
      const valid = subscriptionDefinitionSchema.safeParse(definition);
      if (!valid.success) {
        for (const issue of valid.error.issues) {
          const at = servoPath(issue.path);
          problems.push({ path: at ? `${path}.${at}` : path, message: issue.message });
        }
        break;
      }
      if (parts.length > 0) subscriptions.push({ path, definition });
    }
    if (webhook.secret.length < MIN_SECRET_LENGTH) {
      notices.push(
        `${path} (${name}): the secret has ${webhook.secret.length} characters; use ${MIN_SECRET_LENGTH} or more, as a short secret is easy to guess`,
      );
    }
  });
  return { subscriptions, eventTypes: [...eventTypes].sort(), notices };
}

/**
 * zod's problems as paths and messages. A value of the wrong kind for a union (`backoff`,
 * `headers`) gets the union's own message; a value of the right kind gets the problem inside it.
 * Each unknown key is a problem of its own, at its path (unknown-keys.ts).
 */
export function toConfigProblems(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    const branch =
      issue.code === 'invalid_union'
        ? issue.errors.find((branch) => branch.some((i) => i.path.length > 0 || i.code !== 'invalid_type'))
        : undefined;
    if (branch) problems.push(...toConfigProblems(branch, path));
    else if (issue.code === 'unrecognized_keys') problems.push(...unknownKeyProblems(issue, path));
    else problems.push({ path: path.map(String).join('.') || '(root)', message: issue.message });
  }
  return problems;
}

/** Given names are mapped; missing ones derived from the URL and numbered where they would clash. */
function assignNames(webhooks: Array<ServoWebhook | undefined>, problems: Problem[]): string[] {
  const taken = new Map<string, number>();
  const names: string[] = [];
  webhooks.forEach((webhook, index) => {
    if (webhook?.name === undefined) return;
    const name = toSubscriptionName(webhook.name);
    if (!name) {
      problems.push({ path: `webhooks.${index}.name`, message: 'must contain a letter or a digit' });
    } else if (taken.has(name)) {
      problems.push({
        path: `webhooks.${index}.name`,
        message: `"${webhook.name}" gives the subscription name "${name}", as webhooks.${taken.get(name)} does`,
      });
    }
    taken.set(name, index);
    names[index] = name;
  });
  webhooks.forEach((webhook, index) => {
    if (!webhook || webhook.name !== undefined) return;
    const base = deriveName(webhook.url);
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base.slice(0, NAME_MAX - 4)} ${n}`;
    taken.set(name, index);
    names[index] = name;
  });
  // `x` listing both kinds also makes `x before`, which another webhook may be called.
  webhooks.forEach((webhook, index) => {
    if (!webhook) return;
    const kinds = new Set(webhook.events.map((e) => e.trim().split(':')[0]));
    const twin = `${names[index]}${BEFORE_SUFFIX}`;
    const other = taken.get(twin);
    if (kinds.has('before') && kinds.has('after') && other !== undefined) {
      problems.push({
        path: `webhooks.${other}.name`,
        message: `"${twin}" is also the name of the before: subscription of webhooks.${index}`,
      });
    }
  });
  return names;
}

function toHeaders(headers: ServoWebhook['headers']): Record<string, string> {
  if (!headers) return {};
  if (!Array.isArray(headers)) return headers;
  return Object.fromEntries(headers.map((h) => [h.name, h.value]));
}

/** servo's backoff: absent or true retries on the default schedule; false tries once. */
function toRetryPolicy(backoff: ServoWebhook['backoff'], path: string, problems: Problem[]) {
  if (backoff === undefined || backoff === true) return {};
  if (backoff === false) return { maxAttempts: 1 };
  const policy: { maxAttempts?: number; maxTotalMs?: number } = {};
  if (backoff.max_tries !== undefined) policy.maxAttempts = backoff.max_tries;
  if (backoff.max_time !== undefined) {
    const ms = parseDuration(String(backoff.max_time));
    if (ms === null) problems.push({ path: `${path}.max_time`, message: 'must be a duration such as 30s, 5m or 2h' });
    else policy.maxTotalMs = ms;
  }
  return policy;
}

/** A subscription field's problem, reported under the servo key that set it. */
function servoPath(path: readonly PropertyKey[]): string {
  const joined = path.map(String).join('.');
  if (joined.startsWith('retryPolicy.maxAttempts')) return 'backoff.max_tries';
  if (joined.startsWith('retryPolicy.maxTotalMs')) return 'backoff.max_time';
  if (joined.startsWith('eventTypes')) return joined.replace('eventTypes', 'events');
  return joined;
}
