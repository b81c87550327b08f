import type { SubscriptionChanges, SubscriptionDefinition } from '@switchboard/core';
import { builder } from '../../builder.ts';

export const SigningSchemeEnum = builder.enumType('SigningScheme', {
  values: {
    STANDARD_WEBHOOKS: {
      value: 'standard-webhooks',
      description:
        '`webhook-id`, `webhook-timestamp` and `webhook-signature` headers, as Svix and Standard Webhooks send.',
    },
    HMAC: { value: 'hmac', description: 'One header carrying an HMAC of the body.' },
  } as const,
});

export const SubscriptionModeEnum = builder.enumType('SubscriptionMode', {
  values: {
    ASYNC: { value: 'async', description: 'Delivered after the event is stored, with retries.' },
    BLOCKING: {
      value: 'blocking',
      description: 'Publishers that wait get its first answer before the event is stored, and it may cancel the event.',
    },
  } as const,
});

export const BodyFormatEnum = builder.enumType('BodyFormat', {
  values: {
    STANDARD: { value: 'standard', description: 'The event envelope: `type`, `timestamp`, and the payload as `data`.' },
    WEBHOOK_TEST: {
      value: 'webhook-test',
      description: "The Webhook test tool's body: `id` (the event's id), `event`, `time` (Unix seconds) and `payload`.",
    },
  } as const,
});

export const HeaderInput = builder.inputType('HeaderInput', {
  fields: (t) => ({ name: t.string({ required: true }), value: t.string({ required: true }) }),
});

const SigningInput = builder.inputType('SigningInput', {
  description:
    'For HMAC: `header` (X-Signature), `algorithm` sha1, sha256 or sha512, `encoding` hex or base64, `prefix`.',
  fields: (t) => ({
    scheme: t.field({ type: SigningSchemeEnum, required: true }),
    header: t.string(),
    algorithm: t.string(),
    encoding: t.string(),
    prefix: t.string(),
  }),
});

export const RetryPolicyInput = builder.inputType('RetryPolicyInput', {
  fields: (t) => ({
    scheduleMs: t.intList({ description: 'Delay before each attempt, the first included; the last one repeats.' }),
    maxAttempts: t.int({ description: 'Attempts in all, the first included.' }),
    maxTotalMs: t.float({ description: 'No attempt starts later than this after the first one.' }),
  }),
});

export const SubscriptionInput = builder.inputType('SubscriptionInput', {
  description:
    'A subscription. On update, a field left out keeps its stored value; null clears a field that may be null (the disable thresholds: never) and sets any other back to its default.',
  fields: (t) => ({
    name: t.string({ required: true }),
    description: t.string(),
    url: t.string({ required: true }),
    eventTypes: t.stringList({ required: true, description: 'Names or patterns: `invoice.paid`, `invoice.*`, `*`.' }),
    filter: t.field({ type: 'JSON', description: 'A payload filter; only events whose payload matches are sent.' }),
    headers: t.field({ type: [HeaderInput], description: 'Sent with every request.' }),
    signing: t.field({ type: SigningInput, description: 'Standard Webhooks when left out.' }),
    secret: t.string({
      description:
        'At least 16 characters; generated when left out. Write-only: on update, left out keeps the current one.',
    }),
    timeoutMs: t.int({ description: '15000 when left out.' }),
    retryPolicy: t.field({ type: RetryPolicyInput }),
    rateLimitPerSecond: t.int(),
    maxInFlight: t.int({
      description:
        "Requests a worker keeps open to this endpoint at once, 1 to 1000; left out or null: the worker's default, a quarter of its concurrency.",
    }),
    mode: t.field({ type: SubscriptionModeEnum }),
    bodyFormat: t.field({ type: BodyFormatEnum, description: 'STANDARD when left out.' }),
    disableAfterFailures: t.int({
      description: 'Disable after this many deliveries in a row failed for good; null: never. 100 when left out.',
    }),
    disableAfterMs: t.float({
      description: 'Disable once failing this long without a success; null: never. 5 days when left out.',
    }),
    maxFailedAttempts: t.int({
      description:
        'Disable once more than this many attempts failed (every try counts; a success does not reset the count), as the Webhook test tool did; null: never. Null when left out; 5 for subscriptions made through /webhooks/subscribe.',
    }),
  }),
});

export function stripNulls<T extends object>(value: T): { [K in keyof T]?: NonNullable<T[K]> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]?: NonNullable<T[K]>;
  };
}

/**
 * GraphQL tells a null apart from a field left out; core's definition wants `undefined` for
 * "the default". Only the two disable thresholds give null a meaning of its own: never.
 */
export function toDefinition(input: typeof SubscriptionInput.$inferInput): SubscriptionDefinition {
  return {
    name: input.name,
    description: input.description ?? null,
    url: input.url,
    eventTypes: input.eventTypes,
    filter: (input.filter ?? null) as SubscriptionDefinition['filter'],
    headers: input.headers ? Object.fromEntries(input.headers.map((h) => [h.name, h.value])) : undefined,
    signing: input.signing ? (stripNulls(input.signing) as SubscriptionDefinition['signing']) : undefined,
    secret: input.secret ?? undefined,
    timeoutMs: input.timeoutMs ?? undefined,
    retryPolicy: input.retryPolicy ? stripNulls(input.retryPolicy) : undefined,
    rateLimitPerSecond: input.rateLimitPerSecond ?? null,
    maxInFlight: input.maxInFlight ?? null,
    mode: input.mode ?? undefined,
    bodyFormat: input.bodyFormat ?? undefined,
    disableAfterFailures: input.disableAfterFailures,
    disableAfterMs: input.disableAfterMs,
    maxFailedAttempts: input.maxFailedAttempts,
  };
}

/**
 * An update names only what it gives: a field left out stays undefined (core keeps the stored
 * value) and a null goes through as null (core clears the field or sets it back to its default).
 */
export function toChanges(input: typeof SubscriptionInput.$inferInput): SubscriptionChanges {
  const { headers, signing, retryPolicy } = input;
  return {
    name: input.name,
    description: input.description,
    url: input.url,
    eventTypes: input.eventTypes,
    filter: input.filter as SubscriptionChanges['filter'],
    headers: headers && Object.fromEntries(headers.map((h) => [h.name, h.value])),
    signing: signing && (stripNulls(signing) as SubscriptionDefinition['signing']),
    secret: input.secret ?? undefined,
    timeoutMs: input.timeoutMs,
    retryPolicy: retryPolicy && stripNulls(retryPolicy),
    rateLimitPerSecond: input.rateLimitPerSecond,
    maxInFlight: input.maxInFlight,
    mode: input.mode,
    bodyFormat: input.bodyFormat,
    disableAfterFailures: input.disableAfterFailures,
    disableAfterMs: input.disableAfterMs,
    maxFailedAttempts: input.maxFailedAttempts,
  };
}
