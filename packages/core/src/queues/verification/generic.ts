import { compareConstantTime } from '../../shared/crypto.ts';
import {
  decode,
  digest,
  header,
  hmac,
  isBlank,
  isSupportedHash,
  type Method,
  misconfigured,
  missing,
  OK,
  refuse,
  secretsEqual,
} from './support.ts';
import type { InboundRequest, VerificationOutcome } from './types.ts';

const DEFAULT_TOKEN_HEADER = 'X-Webhook-Token';

export function verifyToken(config: Method<'token'>, request: InboundRequest): VerificationOutcome {
  if (isBlank(config.token)) return misconfigured();
  const headerName = config.header ?? DEFAULT_TOKEN_HEADER;
  const fromHeader = header(request, headerName);
  const fromQuery = config.query ? request.query[config.query] || undefined : undefined;
  const presented = fromHeader ?? fromQuery;
  if (presented === undefined) {
    return config.query
      ? refuse(`missing ${headerName} header or ${config.query} query parameter`)
      : missing(headerName);
  }
  if (secretsEqual(presented, config.token)) return OK;
  return refuse(
    fromHeader !== undefined ? `wrong token in ${headerName} header` : `wrong token in ${config.query} query parameter`,
  );
}

export function verifyBasic(config: Method<'basic'>, request: InboundRequest): VerificationOutcome {
  // The username may legitimately be empty; the password is what keeps others out.
  if (typeof config.username !== 'string' || isBlank(config.password)) return misconfigured();
  const authorization = header(request, 'authorization');
  if (authorization === undefined) return missing('Authorization');
  const [scheme, encoded, ...rest] = authorization.split(/\s+/);
  if (scheme?.toLowerCase() !== 'basic' || rest.length > 0) return refuse('Authorization header is not Basic');
  const credentials = encoded === undefined ? undefined : decode(encoded, 'base64')?.toString('utf8');
  const colon = credentials?.indexOf(':') ?? -1;
  if (credentials === undefined || colon < 0) return refuse('Authorization header has malformed Basic credentials');
  // Both comparisons run before either result is looked at, so the timing does not tell which failed.
  const userMatches = secretsEqual(credentials.slice(0, colon), config.username);
  const passwordMatches = secretsEqual(credentials.slice(colon + 1), config.password);
  return userMatches && passwordMatches ? OK : refuse('wrong username or password');
}

export function verifyHmac(config: Method<'hmac'>, request: InboundRequest): VerificationOutcome {
  if (isBlank(config.secret)) return misconfigured();
  if (!isSupportedHash(config.algorithm)) return refuse(`unknown hash algorithm "${config.algorithm}"`);
  const raw = header(request, config.header);
  if (raw === undefined) return missing(config.header);
  const prefix = config.prefix ?? '';
  if (!raw.startsWith(prefix)) return refuse(`${config.header} header does not start with "${prefix}"`);
  const presented = decode(raw.slice(prefix.length), config.encoding);
  if (presented === undefined) return refuse(`${config.header} header is not a ${config.encoding} digest`);
  const expected = hmac(config.algorithm.toLowerCase(), config.secret, request.body);
  return compareConstantTime(presented, expected) ? OK : refuse(`${config.header} signature does not match`);
}

/** The Webhook Queue's `<process>-<hash>` auth methods; the header always carries hex. */
export function verifyWebhookQueue(config: Method<'webhook-queue'>, request: InboundRequest): VerificationOutcome {
  if (isBlank(config.key)) return misconfigured();
  if (typeof config.algorithm !== 'string' || !isSupportedHash(config.algorithm)) {
    return refuse(`unknown hash algorithm "${String(config.algorithm)}"`);
  }
  if (config.process !== 'hmac' && config.process !== 'hash') {
    return refuse(`unknown webhook-queue process "${String(config.process)}"`);
  }
  const raw = header(request, config.header);
  if (raw === undefined) return missing(config.header);
  const presented = decode(raw, 'hex');
  if (presented === undefined) return refuse(`${config.header} header is not a hex digest`);

  const algorithm = config.algorithm.toLowerCase();
  const key = Buffer.from(config.key);
  if (config.process === 'hmac') {
    return compareConstantTime(presented, hmac(algorithm, key, request.body))
      ? OK
      : refuse(`${config.header} signature does not match`);
  }
  // Senders disagree on the order of key and body; both comparisons always run.
  const keyFirst = compareConstantTime(presented, digest(algorithm, Buffer.concat([key, request.body])));
  const bodyFirst = compareConstantTime(presented, digest(algorithm, Buffer.concat([request.body, key])));
  return keyFirst || bodyFirst ? OK : refuse(`${config.header} hash does not match`);
}
