import { createHash } from 'node:crypto';
import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, needsRehash, verifyPassword } from './passwords.ts';

describe('passwords', () => {
  it('hashes with argon2id at the OWASP parameters (m=19456 KiB, t=2, p=1)', async () => {
    const hash = await hashPassword('correct horse');
    const params = /^\$argon2id\$v=19\$([^$]+)\$/.exec(hash)?.[1]?.split(',').sort();
    expect(params).toEqual(['m=19456', 'p=1', 't=2']);
    expect(await verifyPassword(hash, 'correct horse')).toBe(true);
    expect(await verifyPassword(hash, 'correct horsf')).toBe(false);
    expect(needsRehash(hash)).toBe(false);
  });

  it('asks for a re-hash of weaker hashes and never verifies a non-argon2 string', async () => {
    const weak = await argon2.hash('pw', { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    expect(needsRehash(weak)).toBe(true);
    expect(await verifyPassword('$argon2id$garbage', 'pw')).toBe(false);
  });

  it('bounds password length', () => {
    expect(checkPasswordPolicy('short')).toMatch(/at least 8/);
    expect(checkPasswordPolicy('x'.repeat(1025))).toMatch(/at most 1024/);
    expect(checkPasswordPolicy('long enough')).toBeNull();
  });
});

describe('Webhook Queue password formats', () => {
  it('accepts plain;;<password> and asks for an argon2id re-hash', async () => {
    expect(await verifyPassword('plain;;insecure', 'insecure')).toBe(true);
    expect(await verifyPassword('plain;;insecure', 'insecurE')).toBe(false);
    expect(await verifyPassword('plain;;', '')).toBe(false);
    expect(needsRehash('plain;;insecure')).toBe(true);
  });

  it('accepts sha512;<salt>;<hex> with the salt before or after the password', async () => {
    const saltFirst = createHash('sha512').update('s4ltpassword').digest('hex');
    const saltLast = createHash('sha512').update('passwords4lt').digest('hex');
    expect(await verifyPassword(`sha512;s4lt;${saltFirst}`, 'password')).toBe(true);
    expect(await verifyPassword(`sha512;s4lt;${saltLast.toUpperCase()}`, 'password')).toBe(true);
    expect(await verifyPassword(`sha512;s4lt;${saltFirst}`, 'passw0rd')).toBe(false);
    expect(await verifyPassword(`nohash;s4lt;${saltFirst}`, 'password')).toBe(false);
  });
});
