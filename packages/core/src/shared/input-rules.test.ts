import { describe, expect, it } from 'vitest';
import { decodeKeysetCursor, encodeKeysetCursor } from './cursor.ts';
import { EARLIEST_INSTANT, isStorableInstant, LATEST_INSTANT, parseInstant } from './instant.ts';
import { findNul, identifierProblem } from './text-input.ts';

const ID = '00000000-0000-4000-8000-000000000000';

describe('text that Postgres can store', () => {
  it('finding 9: finds a NUL in any string or key, by its path, however deep', () => {
    expect(findNul({ a: [{ b: 'x\u0000' }] })).toEqual({ path: 'a.0.b', message: expect.stringMatching(/NUL/) });
    expect(findNul({ 'k\u0000': 1 }, 'filter')?.path).toBe('filter.k\\u0000');
    expect(findNul({ payload: 'x\u0000', ok: 'y' }, '', new Set(['payload']))).toBeNull();
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(findNul(deep)?.message).toMatch(/NUL/);
    expect(findNul({ a: 'plain', b: 1, c: null, d: new Date() })).toBeNull();
  });

  it('finding 9: names and ids refuse every control character', () => {
    expect(identifierProblem('a\u0000b', 'name')?.message).toMatch(/NUL/);
    expect(identifierProblem('a\u0001b', 'name')?.message).toMatch(/control/);
    expect(identifierProblem('a\u007fb', 'name')).not.toBeNull();
    expect(identifierProblem('née-1.x', 'name')).toBeNull();
  });
});

describe('instants', () => {
  it('finding 9: refuses dates beyond the years 1 to 9999, which Postgres or a Date cannot take back', () => {
    for (const text of [
      '+275760-09-13T00:00:00Z',
      '-271821-04-20T00:00:00Z',
      '+010000-01-01T00:00:00Z',
      '0000-12-31T23:59:59Z',
    ]) {
      expect(parseInstant(text), text).toEqual({ ok: false, message: expect.stringMatching(/years 1 and 9999/) });
    }
    expect(parseInstant('not a date')).toEqual({ ok: false, message: expect.stringMatching(/ISO 8601/) });
    expect(parseInstant('2024-02-29T12:00:00Z')).toEqual({ ok: true, date: new Date('2024-02-29T12:00:00Z') });
    expect(isStorableInstant(EARLIEST_INSTANT) && isStorableInstant(LATEST_INSTANT)).toBe(true);
    expect(isStorableInstant(new Date(Number.NaN))).toBe(false);
  });
});

describe('keyset cursors', () => {
  it('round-trips what it writes', () => {
    const at = new Date('2024-05-01T10:00:00.123Z');
    expect(decodeKeysetCursor(encodeKeysetCursor({ at, id: ID }))).toEqual({ at, id: ID });
  });

  it('finding 9: refuses a time out of range, a malformed number or id, as not a cursor', () => {
    for (const cursor of [
      `999999999999999:${ID}`,
      `99999999999999999999:${ID}`,
      `-1:${ID}`,
      `1e3:${ID}`,
      `:${ID}`,
      '1700000000000:not-a-uuid',
      `1700000000000:${ID}:extra`,
      '',
    ]) {
      expect(decodeKeysetCursor(cursor), cursor).toBeNull();
    }
  });
});
