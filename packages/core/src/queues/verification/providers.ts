import type { Clock } from '../../shared/clock.ts';
import { verifyHmac } from './generic.ts';
import {
  anyMatches,
  checkTimestamp,
  decode,
  header,
  hmac,
  isBlank,
  isTimestamp,
  type Method,
  misconfigured,
  missing,
  refuse,
} from './support.ts';
import type { InboundRequest, VerificationOutcome } from './types.ts';

export function verifyGithub(config: Method<'github'>, request: InboundRequest): VerificationOutcome {
  // SHA-1 only for senders that never send the SHA-256 header: a wrong SHA-256 signature must not
  // be rescued by a SHA-1 one.
  const legacy =
    header(request, 'x-hub-signature-256') === undefined && header(request, 'x-hub-signature') !== undefined;
  const [algorithm, name] = legacy
    ? (['sha1', 'X-Hub-Signature'] as const)
    : (['sha256', 'X-Hub-Signature-256'] as const);
  const secret = config.secret;
  return verifyHmac(
    { method: 'hmac', secret, algorithm, encoding: 'hex', header: name, prefix: `${algorithm}=` },
    request,
  );
}

export function verifyShopify(config: Method<'shopify'>, request: InboundRequest): VerificationOutcome {
  return verifyHmac(
    { method: 'hmac', secret: config.secret, algorithm: 'sha256', encoding: 'base64', header: 'X-Shopify-Hmac-Sha256' },
    request,
  );
}

/** `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]`; other schemes (v0, …) are ignored. */
export function verifyStripe(config: Method<'stripe'>, request: InboundRequest, clock: Clock): VerificationOutcome {
  if (isBlank(config.secret)) return misconfigured();
  const raw = header(request, 'stripe-signature');
  if (raw === undefined) return missing('Stripe-Signature');
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const item of raw.split(',')) {
    const equals = item.indexOf('=');
    if (equals < 0) continue;
    const key = item.slice(0, equals).trim();
    const value = item.slice(equals + 1).trim();
    if (key === 't' && timestamp === undefined) timestamp = value;
    else if (key === 'v1') signatures.push(value);
  }
  if (timestamp === undefined || !isTimestamp(timestamp)) return refuse('Stripe-Signature header has no valid t=');
  if (signatures.length === 0) return refuse('Stripe-Signature header has no v1 signature');

  // The secret is used as it is, whsec_ included: that is how Stripe keys the HMAC.
  const expected = hmac('sha256', config.secret, Buffer.concat([Buffer.from(`${timestamp}.`), request.body]));
  const candidates = signatures.map((signature) => decode(signature, 'hex'));
  if (!anyMatches(candidates, expected)) return refuse('no Stripe-Signature v1 signature matches');
  return checkTimestamp(timestamp, clock, config.toleranceSeconds, 'Stripe-Signature');
}

/** `X-Slack-Signature: v0=<hex>` over `v0:<X-Slack-Request-Timestamp>:<body>`. */
export function verifySlack(config: Method<'slack'>, request: InboundRequest, clock: Clock): VerificationOutcome {
  if (isBlank(config.secret)) return misconfigured();
  const timestamp = header(request, 'x-slack-request-timestamp');
  if (timestamp === undefined) return missing('X-Slack-Request-Timestamp');
  if (!isTimestamp(timestamp)) return refuse('X-Slack-Request-Timestamp header is not a Unix time');
  const raw = header(request, 'x-slack-signature');
  if (raw === undefined) return missing('X-Slack-Signature');
  if (!raw.startsWith('v0=')) return refuse('X-Slack-Signature header does not start with "v0="');

  const expected = hmac('sha256', config.secret, Buffer.concat([Buffer.from(`v0:${timestamp}:`), request.body]));
  if (!anyMatches([decode(raw.slice(3), 'hex')], expected)) return refuse('X-Slack-Signature signature does not match');
  return checkTimestamp(timestamp, clock, config.toleranceSeconds, 'X-Slack-Request-Timestamp');
}

const WHSEC = 'whsec_';

/**
 * Standard Webhooks, or Svix's identical scheme under `svix-` header names (used only when no
 * `webhook-` header is present, so a request cannot mix the two sets).
 */
export function verifyStandardWebhooks(
  config: Method<'standard-webhooks'>,
  request: InboundRequest,
  clock: Clock,
): VerificationOutcome {
  if (isBlank(config.secret)) return misconfigured();
  const encodedKey = config.secret.startsWith(WHSEC) ? config.secret.slice(WHSEC.length) : config.secret;
  const key = decode(encodedKey, 'base64');
  if (key === undefined) return refuse('queue verification is misconfigured: the secret is not whsec_<base64>');

  const names = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];
  const family = names.some((name) => header(request, name) !== undefined) ? 'webhook' : 'svix';
  const idHeader = `${family}-id`;
  const timestampHeader = `${family}-timestamp`;
  const signatureHeader = `${family}-signature`;
  const id = header(request, idHeader);
  const timestamp = header(request, timestampHeader);
  const raw = header(request, signatureHeader);
  if (id === undefined) return missing(idHeader);
  if (timestamp === undefined) return missing(timestampHeader);
  if (raw === undefined) return missing(signatureHeader);
  if (!isTimestamp(timestamp)) return refuse(`${timestampHeader} header is not a Unix time`);

  // Space-separated `<version>,<base64>` entries; only v1 (HMAC-SHA256) is understood, v1a and
  // other versions are skipped.
  const signatures = raw
    .split(' ')
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => decode(entry.slice(3), 'base64'));
  if (signatures.length === 0) return refuse(`${signatureHeader} header has no v1 signature`);

  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), request.body]);
  if (!anyMatches(signatures, hmac('sha256', key, signed))) return refuse(`no ${signatureHeader} v1 signature matches`);
  return checkTimestamp(timestamp, clock, config.toleranceSeconds, timestampHeader);
}
