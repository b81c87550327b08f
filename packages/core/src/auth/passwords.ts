import { createHash, getHashes } from 'node:crypto';
import argon2 from 'argon2';
import { compareConstantTime } from '../shared/crypto.ts';

/**
 * OWASP Password Storage Cheat Sheet, argon2id: m=19 MiB, t=2, p=1. Hashes made with weaker
 * parameters are re-hashed on the next successful login (see `needsRehash`).
 */
export const ARGON2_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (!hash.startsWith('$argon2')) return verifyLegacyPassword(hash, password);
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

export function needsRehash(hash: string): boolean {
  return !hash.startsWith('$argon2id$') || argon2.needsRehash(hash, ARGON2_OPTIONS);
}

/** A password hash that no password matches: used to spend the same time on unknown users. */
let dummyHash: Promise<string> | undefined;
export function getDummyHash(): Promise<string> {
  dummyHash ??= hashPassword('switchboard-timing-equaliser');
  return dummyHash;
}

export function checkPasswordPolicy(password: string): string | null {
  if (password.length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return null;
}

/**
 * The Webhook Queue's `<type>;<salt>;<hash>` format, accepted so that its users can sign in on
 * the first day and are moved to argon2id by that sign-in: `plain;;<password>`, and
 * `<hash>;<salt>;<hex digest>` (sha512, sha256, ...) of the salt and password joined, in either order.
 */
export function verifyLegacyPassword(stored: string, password: string): boolean {
  const [type, salt = '', expected = ''] = stored.split(';');
  if (stored.split(';').length !== 3 || !type) return false;
  if (type === 'plain') return expected.length > 0 && compareConstantTime(expected, password);
  if (!getHashes().includes(type)) return false;
  const digest = (value: string) => createHash(type).update(value).digest('hex');
  const wanted = expected.toLowerCase();
  const saltFirst = compareConstantTime(digest(salt + password), wanted);
  const passwordFirst = compareConstantTime(digest(password + salt), wanted);
  return saltFirst || passwordFirst;
}

/** Whether a stored value is in a format `verifyPassword` understands. */
export function isKnownPasswordFormat(stored: string): boolean {
  if (stored.startsWith('$argon2')) return true;
  const parts = stored.split(';');
  return parts.length === 3 && (parts[0] === 'plain' || getHashes().includes(parts[0] ?? ''));
}
