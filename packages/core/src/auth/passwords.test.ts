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
    expect(await verifyPassword('plain;;pw', 'pw')).toBe(false);
    expect(await verifyPassword('$argon2id$garbage', 'pw')).toBe(false);
  });

  it('bounds password length', () => {
    expect(checkPasswordPolicy('short')).toMatch(/at least 8/);
    expect(checkPasswordPolicy('x'.repeat(1025))).toMatch(/at most 1024/);
    expect(checkPasswordPolicy('long enough')).toBeNull();
  });
});
