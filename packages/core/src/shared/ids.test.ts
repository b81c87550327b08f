import { describe, expect, it } from 'vitest';
import { isUuid } from './crypto.ts';
import { type JobId, newId, parseDeliveryId, parseDeliveryIdList, parseId, parseIdList } from './ids.ts';

const UUID = '6b7d7b4b-6d76-4fed-8306-330cb945cca0';

describe('parseId', () => {
  it('accepts a UUID as it is given', () => {
    expect(parseId<JobId>(UUID)).toBe(UUID);
  });

  it('handles upper case as isUuid does, keeping the text unchanged', () => {
    const upper = UUID.toUpperCase();
    expect(isUuid(upper)).toBe(true);
    expect(parseId<JobId>(upper)).toBe(upper);
  });

  it('refuses anything that is not a UUID', () => {
    for (const raw of ['', '6b7d7b4b', `${UUID} `, ` ${UUID}`, `${UUID}0`, UUID.replaceAll('-', ''), '42', 'null']) {
      expect(parseId<JobId>(raw), JSON.stringify(raw)).toBeNull();
    }
  });

  it('keeps the UUIDs of a list, in order, and leaves the rest out', () => {
    const other = newId<JobId>();
    expect(parseIdList<JobId>(['x', UUID, '', other])).toEqual([UUID, other]);
    expect(isUuid(other)).toBe(true);
  });
});

describe('parseDeliveryId', () => {
  it('accepts positive safe integers, as numbers or decimal digits', () => {
    expect(parseDeliveryId(1)).toBe(1);
    expect(parseDeliveryId('42')).toBe(42);
    expect(parseDeliveryId(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses zero, negatives, fractions, unsafe integers and text that is not digits', () => {
    for (const raw of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1]) {
      expect(parseDeliveryId(raw), String(raw)).toBeNull();
    }
    for (const raw of ['', '0', '-1', '1.5', '1e3', ' 7', '0x10', '9007199254740993', UUID]) {
      expect(parseDeliveryId(raw), JSON.stringify(raw)).toBeNull();
    }
  });

  it('keeps the delivery ids of a list, in order', () => {
    expect(parseDeliveryIdList([3, 'x', '5', 0, -2])).toEqual([3, 5]);
  });
});
