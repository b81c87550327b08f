import { describe, expect, it } from 'vitest';
import { isValidPattern, matchesPattern } from './patterns.ts';
import { checkFilter, matchesFilter } from './payload-filter.ts';

describe('event-type patterns', () => {
  it.each([
    ['invoice.paid', 'invoice.paid', true],
    ['invoice.paid', 'invoice.paid.late', false],
    ['invoice.*', 'invoice.paid', true],
    ['invoice.*', 'invoice.payment.failed', true],
    ['invoice.*', 'invoice', false],
    ['invoice.*', 'order.paid', false],
    ['*', 'anything.at.all', true],
    ['*.created', 'order.created', true],
    ['*.created', 'order.item.created', false],
    ['order.*.failed', 'order.payment.failed', true],
  ])('%s against %s: %s', (pattern, type, expected) => {
    expect(matchesPattern(pattern, type)).toBe(expected);
  });

  it('accepts well-formed patterns only', () => {
    for (const good of ['invoice.paid', 'invoice.*', '*', '*.created']) expect(isValidPattern(good)).toBe(true);
    for (const bad of ['', 'Invoice', 'invoice..paid', 'inv*', 'invoice.', '.paid'])
      expect(isValidPattern(bad)).toBe(false);
  });
});

describe('payload filters', () => {
  const payload = {
    type: 'invoice.paid',
    data: {
      amount: 1500,
      currency: 'eur',
      customer: { email: 'ada@example.com' },
      tags: ['vip', 'eu'],
      refunded: false,
    },
  };

  it.each([
    [{ 'data.currency': 'eur' }, true],
    [{ 'data.currency': { $eq: 'usd' } }, false],
    [{ 'data.currency': { $neq: 'usd' } }, true],
    [{ 'data.amount': { $gte: 1500, $lt: 2000 } }, true],
    [{ 'data.amount': { $gt: 1500 } }, false],
    [{ 'data.amount': { $lte: '2000' } }, false],
    [{ 'data.currency': { $in: ['eur', 'usd'] } }, true],
    [{ 'data.currency': { $nin: ['eur'] } }, false],
    [{ 'data.missing': { $nin: ['eur'] } }, true],
    [{ 'data.refunded': { $exists: true } }, true],
    [{ 'data.missing': { $exists: false } }, true],
    [{ 'data.customer.email': { $regex: '@example\\.com$' } }, true],
    [{ 'data.tags.0': 'vip' }, true],
    [{ 'data.tags': ['vip', 'eu'] }, true],
    [{ 'data.customer': { email: 'ada@example.com' } }, true],
    [{ $or: [{ 'data.currency': 'usd' }, { 'data.amount': { $gt: 1000 } }] }, true],
    [{ $and: [{ 'data.currency': 'eur' }, { 'data.refunded': true }] }, false],
    [{ $not: { 'data.currency': 'usd' } }, true],
    [{}, true],
  ])('%j matches: %s', (filter, expected) => {
    expect(checkFilter(filter)).toEqual([]);
    expect(matchesFilter(filter, payload)).toBe(expected);
  });

  it('refuses unknown operators, wrong operands, bad and unsupported regular expressions, and deep nesting', () => {
    const problems = checkFilter({
      'data.amount': { $between: [1, 2], $in: 3 },
      'data.flag': { $exists: 'yes' },
      // Linear-time RE2 runs nested repetition safely, but it has no backreferences.
      'data.email': { $regex: '(a+)\\1$' },
      'data.name': { $regex: '[' },
      $nor: [],
      $or: [],
    });
    expect(problems.map((p) => p.path).sort()).toEqual([
      'filter.$nor',
      'filter.$or',
      'filter.data.amount.$between',
      'filter.data.amount.$in',
      'filter.data.email.$regex',
      'filter.data.flag.$exists',
      'filter.data.name.$regex',
    ]);
    let deep: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < 12; i++) deep = { $not: deep };
    expect(checkFilter(deep)[0]?.message).toContain('deeper');
    expect(checkFilter([1])[0]?.message).toBe('must be an object');
  });
});
