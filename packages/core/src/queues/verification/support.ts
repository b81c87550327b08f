import { createHash, createHmac, getHashes } from 'node:crypto';
import type { Clock } from '../../shared/clock.ts';
import { compareConstantTime } from '../../shared/crypto.ts';
import {
  DEFAULT_TOLERANCE_SECONDS,
  type DigestEncoding,
  type InboundRequest,
  type Verification,
  type VerificationOutcome,
} from './types.ts';

export type Method<M extends Verification['method']> = Extract<Verification, { method: M }>;

export const OK: VerificationOutcome = Object.freeze({ ok: true });

export function refuse(reason: string): VerificationOutcome {
  return { ok: false, reason };
}

export function missing(headerName: string): VerificationOutcome {
  return refuse(`missing ${headerName} header`);
}

/** The header's value, or undefined when it is absent or blank; `name` may be in any case. */
export function header(request: InboundRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()]?.trim();
  return value ? value : undefined;
}

// Config comes from the database, so a blank or absent secret is possible at run time; with one,
// anybody could make a valid signature (or send an empty token), so it must refuse, not pass.
export function isBlank(secret: unknown): boolean {
  return typeof secret !== 'string' || secret.length === 0;
}

export function misconfigured(): VerificationOutcome {
  return refuse('queue verification is misconfigured: no secret');
}

const HEX = /^(?:[0-9a-f]{2})+$/i;
const BASE64 = /^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$/;

/**
 * Decodes a presented digest, or undefined when it is not well-formed. Buffer.from skips what it
 * cannot parse, so without this check a right digest followed by junk would still decode to it.
 */
export function decode(value: string, encoding: DigestEncoding): Buffer | undefined {
  const pattern = encoding === 'hex' ? HEX : BASE64;
  return value.length > 0 && pattern.test(value) ? Buffer.from(value, encoding) : undefined;
}

const EMPTY = Buffer.alloc(0);

/** Every candidate is compared, so the time taken never tells which one matched. */
export function anyMatches(candidates: readonly (Buffer | undefined)[], expected: Buffer): boolean {
  let matched = false;
  for (const candidate of candidates) {
    if (compareConstantTime(candidate ?? EMPTY, expected)) matched = true;
  }
  return matched;
}

/**
 * Compares digests of both sides: equal lengths, so not even the secret's length shows in the
 * timing, and `a && b` after two such calls never skips the second comparison.
 */
export function secretsEqual(presented: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return compareConstantTime(digest(presented), digest(expected));
}

const HASHES = new Set(getHashes().map((name) => name.toLowerCase()));

/** A node:crypto hash name usable for both HMAC and plain digests. */
export function isSupportedHash(name: string): boolean {
  const lower = name.toLowerCase();
  // The SHAKE functions are listed but have no fixed output length and cannot key an HMAC.
  return HASHES.has(lower) && !lower.startsWith('shake');
}

export function hmac(algorithm: string, key: string | Buffer, payload: Buffer): Buffer {
  return createHmac(algorithm, key).update(payload).digest();
}

export function digest(algorithm: string, payload: Buffer): Buffer {
  return createHash(algorithm).update(payload).digest();
}

const SECONDS = /^\d{1,12}$/;

export function isTimestamp(value: string): boolean {
  return SECONDS.test(value);
}

/** Refuses a timestamp (Unix seconds) further than the tolerance from now, in the past or the future. */
export function checkTimestamp(
  timestamp: string,
  clock: Clock,
  toleranceSeconds: number | undefined,
  source: string,
): VerificationOutcome {
  const tolerance = toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor(clock.now().getTime() / 1000);
  if (Math.abs(now - Number(timestamp)) <= tolerance) return OK;
  return refuse(`${source} timestamp is outside the ${tolerance}-second tolerance`);
}
