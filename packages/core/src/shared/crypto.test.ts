import { describe, expect, it } from 'vitest';
import { compareConstantTime, generateRandomString, hashSha256Hex, isUuid } from './crypto.ts';

describe('crypto helpers', () => {
  it('makes base62 strings of the asked length, different each time', () => {
    const a = generateRandomString(40);
    expect(a).toMatch(/^[0-9A-Za-z]{40}$/);
    expect(generateRandomString(40)).not.toBe(a);
  });

  it('compares equal and unequal values, of equal and unequal lengths', () => {
    expect(compareConstantTime('abc', 'abc')).toBe(true);
    expect(compareConstantTime('abc', 'abd')).toBe(false);
    expect(compareConstantTime('abc', 'abcd')).toBe(false);
    expect(compareConstantTime(Buffer.from('x'), Buffer.from('x'))).toBe(true);
  });

  it('hashes with SHA-256 and recognises UUIDs', () => {
    expect(hashSha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(isUuid('6b7d7b4b-6d76-4fed-8306-330cb945cca0')).toBe(true);
    expect(isUuid('6b7d7b4b')).toBe(false);
  });
});
