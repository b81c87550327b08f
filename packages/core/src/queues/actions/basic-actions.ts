import { setTimeout as sleepFor } from 'node:timers/promises';
import { z } from 'zod';
import { ok } from '../../shared/result.ts';
import { verificationSchema } from '../queue-definition.ts';
import type { Verification } from '../verification/types.ts';
import { verifyInbound } from '../verification/verify.ts';
import { type ActionFactory, compileSetting, parseSettings, renderSetting } from './action-definition.ts';
import type { StepResult } from './action-types.ts';
import type { Template } from './template.ts';

/**
 * The actions that need nothing outside the process: `log`, `eval`, `sleep`, the verifiers and
 * `publish`. Defaults are webhook-proxy's (src/actions/ in rycus86/webhook-proxy), so that its
 * files print what they printed there.
 */

/** Renders a template that prints; its text is the action's output. */
function printed(template: Template, scope: Record<string, unknown>, logLine?: (line: string) => void): StepResult {
  const rendered = renderSetting(template, scope);
  if (!rendered.ok) return rendered.result;
  logLine?.(rendered.value);
  return { kind: 'done', output: rendered.value };
}

export const logAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(
    z.strictObject({ message: z.string().default('Processing {{ request.path }} ...') }),
    settings,
    path,
  );
  if (!parsed.ok) return parsed;
  const message = compileSetting(parsed.value.message, `${path}.message`);
  if (!message.ok) return message;
  return ok({
    run: async (input, services) =>
      printed(message.value, input.scope, (line) => services.logger.info({ action: 'log', text: line }, line)),
  });
};

/** A template evaluated for what it does (`context.set`, `error`); its text is kept as the output. */
export const evalAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(z.strictObject({ block: z.string().min(1) }), settings, path);
  if (!parsed.ok) return parsed;
  const block = compileSetting(parsed.value.block, `${path}.block`);
  if (!block.ok) return block;
  return ok({ run: async (input) => printed(block.value, input.scope) });
};

/** The longest a `sleep` may wait: a message's actions hold a runner while they sleep. */
const MAX_SLEEP_SECONDS = 3600;

export const sleepAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(
    z.strictObject({
      seconds: z.union([z.number().min(0).max(MAX_SLEEP_SECONDS), z.string().min(1)]),
      message: z.string().default('Waiting {{ seconds }} seconds before continuing ...'),
    }),
    settings,
    path,
  );
  if (!parsed.ok) return parsed;
  const seconds = compileSetting(String(parsed.value.seconds), `${path}.seconds`);
  if (!seconds.ok) return seconds;
  const message = compileSetting(parsed.value.message, `${path}.message`);
  if (!message.ok) return message;
  return ok({
    async run(input, services) {
      const rendered = renderSetting(seconds.value, input.scope);
      if (!rendered.ok) return rendered.result;
      const value = Number(rendered.value.trim());
      if (!Number.isFinite(value) || value < 0 || value > MAX_SLEEP_SECONDS) {
        return {
          kind: 'failed',
          error: `seconds "${rendered.value}" is not a number from 0 to ${MAX_SLEEP_SECONDS}`,
          retryable: false,
        };
      }
      const said = printed(message.value, { ...input.scope, seconds: value }, (line) =>
        services.logger.info({ action: 'sleep' }, line),
      );
      if (said.kind === 'failed') return said;
      try {
        await sleepFor(value * 1000, undefined, { signal: input.signal });
      } catch {
        return { kind: 'failed', error: 'stopped while sleeping', retryable: true };
      }
      return said;
    },
  });
};

/**
 * `github-verify` and its siblings: the provider's signature checked by an action, for files that
 * verify there rather than on the queue. The secret is a template (`read_config(...)`).
 */
function verifierAction(method: 'github' | 'stripe' | 'shopify' | 'slack' | 'standard-webhooks'): ActionFactory {
  return (settings, path) => {
    const parsed = parseSettings(
      z.strictObject({ secret: z.string().min(1), output: z.string().default('{{ result }}') }),
      settings,
      path,
    );
    if (!parsed.ok) return parsed;
    const secret = compileSetting(parsed.value.secret, `${path}.secret`);
    if (!secret.ok) return secret;
    const output = compileSetting(parsed.value.output, `${path}.output`);
    if (!output.ok) return output;
    return ok({
      async run(input, services) {
        const key = renderSetting(secret.value, input.scope);
        if (!key.ok) return key.result;
        if (key.value.trim() === '')
          return { kind: 'failed', error: `the ${method} secret rendered empty`, retryable: false };
        const verified = verifyInbound(
          { method, secret: key.value.trim() } as Verification,
          { body: input.message.body, headers: input.message.headers, query: {} },
          services.clock,
        );
        if (!verified.ok) return { kind: 'failed', error: `${method} signature: ${verified.reason}`, retryable: false };
        return printed(output.value, { ...input.scope, result: `${method} signature verified` });
      },
    });
  };
}

export const githubVerifyAction = verifierAction('github');
export const stripeVerifyAction = verifierAction('stripe');
export const shopifyVerifyAction = verifierAction('shopify');
export const slackVerifyAction = verifierAction('slack');
export const standardWebhooksVerifyAction = verifierAction('standard-webhooks');

/** `verify`: any of the queue verification methods, in Switchboard's own form. */
export const verifyAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(verificationSchema, settings, path);
  if (!parsed.ok) return parsed;
  const verification = parsed.value;
  return ok({
    async run(input, services) {
      const verified = verifyInbound(
        verification,
        { body: input.message.body, headers: input.message.headers, query: {} },
        services.clock,
      );
      return verified.ok
        ? { kind: 'done', output: `${verification.method} verified` }
        : { kind: 'failed', error: `${verification.method}: ${verified.reason}`, retryable: false };
    },
  });
};

/**
 * `publish`: the message becomes an event, so that a provider's webhook reaches the outbound
 * subscriptions of a type. The payload is the message's JSON, a part of it (`path: data.object`),
 * or a template that renders JSON. The idempotency key defaults to the message's own identity, so
 * that a retried run publishes once.
 */
export const publishAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(
    z
      .strictObject({
        type: z.string().min(1),
        payload: z.string().optional(),
        path: z
          .string()
          .regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/, 'must be a dotted path such as data.object')
          .optional(),
        idempotency_key: z.string().optional(),
      })
      .refine((s) => !(s.payload && s.path), 'give either payload or path, not both'),
    settings,
    path,
  );
  if (!parsed.ok) return parsed;
  const type = compileSetting(parsed.value.type, `${path}.type`);
  if (!type.ok) return type;
  const payload = parsed.value.payload ? compileSetting(parsed.value.payload, `${path}.payload`) : null;
  if (payload && !payload.ok) return payload;
  const key = compileSetting(
    parsed.value.idempotency_key ?? 'msg_{{ message.queue }}_{{ message.sequence }}',
    `${path}.idempotency_key`,
  );
  if (!key.ok) return key;
  const jsonPath = parsed.value.path?.split('.') ?? null;
  return ok({
    async run(input, services) {
      const typeName = renderSetting(type.value, input.scope);
      if (!typeName.ok) return typeName.result;
      const idempotencyKey = renderSetting(key.value, input.scope);
      if (!idempotencyKey.ok) return idempotencyKey.result;
      let body: unknown;
      if (payload?.ok) {
        const text = renderSetting(payload.value, input.scope);
        if (!text.ok) return text.result;
        try {
          body = JSON.parse(text.value);
        } catch {
          return {
            kind: 'failed',
            error: `payload did not render JSON: ${text.value.slice(0, 200)}`,
            retryable: false,
          };
        }
      } else {
        try {
          body = JSON.parse(input.message.body.toString('utf8'));
        } catch {
          return {
            kind: 'failed',
            error: 'the message is not JSON, so it has no payload to publish',
            retryable: false,
          };
        }
        for (const key of jsonPath ?? []) {
          body =
            body !== null && typeof body === 'object' && !Array.isArray(body)
              ? (body as Record<string, unknown>)[key]
              : undefined;
        }
        if (body === undefined)
          return { kind: 'failed', error: `the message has no "${parsed.value.path}"`, retryable: false };
      }
      const published = await services.publish({
        type: typeName.value.trim(),
        payload: body,
        idempotencyKey: idempotencyKey.value.trim() || null,
      });
      if (!published.ok) {
        const retryable = published.error.code === 'UNAVAILABLE';
        return { kind: 'failed', error: `publish: ${published.error.message}`, retryable };
      }
      return { kind: 'done', output: `published ${typeName.value.trim()} as ${published.value.id}` };
    },
  });
};
