import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { RetryPolicy } from '../../outbound/retry-policy.ts';
import { normaliseSecret, signAttempt } from '../../outbound/signing.ts';
import { ok } from '../../shared/result.ts';
import { type ActionFactory, compileSetting, parseSettings, renderSetting } from './action-definition.ts';
import type { CompiledAction, OwedRequest, StepInput, StepResult } from './action-types.ts';
import { renderTree, type Template } from './template.ts';

/**
 * `http` (webhook-proxy's: a templated request) and `forward` (Switchboard's: the message resent
 * as it came, to another service). In the worker a request is owed: the outbound engine sends it,
 * SSRF-guarded, signed when asked, retried on the action's `retry` and recorded attempt by attempt.
 * A queue that answers after its actions sends it at once instead, so that the answer can say how
 * it went; there, as in webhook-proxy, a receiver's non-2xx answer is printed, not a failure.
 */

/** Headers that describe one hop, never passed on (RFC 9110 7.6.1), and those the sender recomputes. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

const DEFAULT_TIMEOUT_SECONDS = 15;

const requestSettings = {
  target: z.string().min(1),
  method: z
    .string()
    .regex(/^[A-Za-z]{1,16}$/, 'must be an HTTP method')
    .optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** With `json: true`, a YAML tree sent as JSON (its strings rendered); otherwise a template. */
  body: z.unknown().optional(),
  json: z.boolean().default(false),
  output: z.string().optional(),
  /** Signs the request the Standard Webhooks way with this secret (a template, `whsec_...` or any text). */
  secret: z.string().min(1).optional(),
  timeout: z.number().min(1).max(300).default(DEFAULT_TIMEOUT_SECONDS),
};

type RequestSettings = z.output<z.ZodObject<typeof requestSettings>>;

function requestAction(name: 'http' | 'forward'): ActionFactory {
  return (settings, path) => {
    const parsed = parseSettings(z.strictObject(requestSettings), settings, path);
    if (!parsed.ok) return parsed;
    const s = parsed.value;
    const templates: Array<[string, string]> = [['target', s.target]];
    if (s.secret) templates.push(['secret', s.secret]);
    if (typeof s.body === 'string' && !s.json) templates.push(['body', s.body]);
    if (s.body !== undefined && !s.json && typeof s.body !== 'string') {
      return parseSettings(z.never(), 1, `${path}.body`);
    }
    for (const [header, value] of Object.entries(s.headers ?? {})) templates.push([`headers.${header}`, value]);
    const compiled = new Map<string, Template>();
    for (const [key, source] of templates) {
      const template = compileSetting(source, `${path}.${key}`);
      if (!template.ok) return template;
      compiled.set(key, template.value);
    }
    const outputSource =
      s.output ??
      (name === 'http'
        ? 'HTTP {{ response.status_code }} : {{ response.content }}'
        : 'HTTP {{ response.status_code }}');
    const output = compileSetting(outputSource, `${path}.output`);
    if (!output.ok) return output;
    const action: Omit<CompiledAction, 'retry' | 'name'> = {
      async run(input, services) {
        const built = buildRequest(name, s, compiled, input);
        if ('kind' in built) return built;
        // The action's retry becomes the delivery's policy.
        const retryPolicy: RetryPolicy = { scheduleMs: input.retry.scheduleMs, maxAttempts: input.retry.maxAttempts };
        const owed: OwedRequest = { ...built, retryPolicy };
        if (input.mode === 'worker') return { kind: 'owed', output: `${owed.method} ${owed.url} owed`, request: owed };
        const body = owed.body ?? input.message.body;
        const answer = await services.send({
          url: owed.url,
          method: owed.method,
          headers: owed.signingSecret
            ? { ...owed.headers, ...signNow(owed.signingSecret, body, services.clock.now()) }
            : owed.headers,
          body,
          timeoutMs: owed.timeoutMs,
        });
        if (answer.kind !== 'response')
          return {
            kind: 'failed',
            error: `${owed.method} ${owed.url}: ${answer.error}`,
            retryable: answer.kind === 'error',
          };
        const text = answer.body.toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {}
        const response = {
          status_code: answer.statusCode,
          ok: answer.statusCode < 400,
          headers: answer.headers,
          content: text,
          text,
          json,
        };
        const rendered = renderSetting(output.value, { ...input.scope, response });
        if (!rendered.ok) return rendered.result;
        return { kind: 'done', output: rendered.value };
      },
    };
    return ok(action);
  };
}

function buildRequest(
  name: 'http' | 'forward',
  s: RequestSettings,
  compiled: Map<string, Template>,
  input: StepInput,
): Omit<OwedRequest, 'retryPolicy'> | StepResult {
  const render = (key: string): string | StepResult => {
    const template = compiled.get(key);
    if (!template) return '';
    const rendered = renderSetting(template, input.scope);
    return rendered.ok ? rendered.value : rendered.result;
  };
  const url = render('target');
  if (typeof url !== 'string') return url;
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url.trim());
  } catch {
    return { kind: 'failed', error: `target "${url.slice(0, 200)}" is not a URL`, retryable: false };
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    return { kind: 'failed', error: `target must be http or https, not ${parsedUrl.protocol}`, retryable: false };
  }
  const exact = name === 'forward' && s.body === undefined;
  const headers: Record<string, string> = {};
  if (name === 'forward') {
    for (const [header, value] of Object.entries(input.message.headers)) {
      if (!HOP_BY_HOP.has(header)) headers[header] = value;
    }
  }
  for (const header of Object.keys(s.headers ?? {})) {
    const value = render(`headers.${header}`);
    if (typeof value !== 'string') return value;
    headers[header.toLowerCase()] = value;
  }
  let body: Buffer | null = null;
  if (!exact) {
    if (s.json) {
      try {
        body = Buffer.from(JSON.stringify(renderTree(s.body ?? {}, input.scope)));
      } catch (error) {
        return { kind: 'failed', error: (error as Error).message, retryable: false };
      }
      headers['content-type'] ??= 'application/json';
    } else if (s.body !== undefined) {
      const text = render('body');
      if (typeof text !== 'string') return text;
      body = Buffer.from(text);
    } else {
      body = Buffer.alloc(0);
    }
  }
  let signingSecret: string | null = null;
  if (s.secret) {
    const secret = render('secret');
    if (typeof secret !== 'string') return secret;
    signingSecret = secret.trim() || null;
  }
  return {
    url: parsedUrl.toString(),
    method: (s.method ?? (name === 'forward' ? input.message.method : 'POST')).toUpperCase(),
    headers,
    body,
    timeoutMs: s.timeout * 1000,
    signingSecret,
  };
}

const STANDARD_WEBHOOKS = { scheme: 'standard-webhooks' as const };

/** A request sent at once is signed as the outbound engine signs a delivery: Standard Webhooks, a fresh webhook-id. */
function signNow(secret: string, body: Buffer, now: Date): Record<string, string> {
  return signAttempt({
    signing: STANDARD_WEBHOOKS,
    secrets: [normaliseSecret(STANDARD_WEBHOOKS, secret)],
    webhookId: `msg_${randomUUID().replaceAll('-', '')}`,
    timestamp: now,
    body,
  });
}

export const httpAction = requestAction('http');
export const forwardAction = requestAction('forward');
