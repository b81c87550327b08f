import { compileUserPattern, testUserPattern } from '../shared/safe-regex.ts';

/**
 * Subscription payload filters, in the MongoDB style that Svix and Convoy users know:
 * `{"data.amount": {"$gte": 100}, "$or": [{"currency": "eur"}, {"currency": "usd"}]}`. Keys are
 * dot-separated JSON paths (array items by index) or `$and`/`$or`/`$not`; a plain value means `$eq`.
 */
export type PayloadFilter = Record<string, unknown>;

const COMPARISONS = new Set(['$eq', '$neq', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists', '$regex']);
const MAX_DEPTH = 8;
/** A `$regex` looks at no more than this much of a string. */
const MAX_REGEX_INPUT = 10_000;

/** Every problem of a filter, by path; empty when it can be used. */
export function checkFilter(filter: unknown, path = 'filter', depth = 0): Array<{ path: string; message: string }> {
  if (depth > MAX_DEPTH) return [{ path, message: `nests deeper than ${MAX_DEPTH} levels` }];
  if (!isPlainObject(filter)) return [{ path, message: 'must be an object' }];
  const problems: Array<{ path: string; message: string }> = [];
  for (const [key, value] of Object.entries(filter)) {
    const here = `${path}.${key}`;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) {
        problems.push({ path: here, message: 'must be a non-empty list of filters' });
      } else {
        for (const [i, item] of value.entries()) problems.push(...checkFilter(item, `${here}.${i}`, depth + 1));
      }
    } else if (key === '$not') {
      problems.push(...checkFilter(value, here, depth + 1));
    } else if (key.startsWith('$')) {
      problems.push({ path: here, message: `"${key}" is not an operator here; use $and, $or, $not, or a JSON path` });
    } else if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
      for (const [op, operand] of Object.entries(value)) {
        const message = checkComparison(op, operand);
        if (message) problems.push({ path: `${here}.${op}`, message });
      }
    }
  }
  return problems;
}

function checkComparison(op: string, operand: unknown): string | null {
  if (!COMPARISONS.has(op)) return `"${op}" is not one of ${[...COMPARISONS].join(' ')}`;
  if ((op === '$in' || op === '$nin') && !Array.isArray(operand)) return 'must be a list';
  if (op === '$exists' && typeof operand !== 'boolean') return 'must be true or false';
  if (['$gt', '$gte', '$lt', '$lte'].includes(op) && typeof operand !== 'number' && typeof operand !== 'string') {
    return 'must be a number or a string';
  }
  if (op === '$regex') {
    if (typeof operand !== 'string') return 'must be a regular expression (a string)';
    // RE2 syntax on a linear-time engine (shared/safe-regex.ts): no pattern can stall a publish.
    const compiled = compileUserPattern(operand);
    if (!compiled.ok) return compiled.message;
  }
  return null;
}

/** Whether a payload satisfies a filter that `checkFilter` accepted. */
export function matchesFilter(filter: PayloadFilter, payload: unknown): boolean {
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as PayloadFilter[]).every((f) => matchesFilter(f, payload));
    if (key === '$or') return (condition as PayloadFilter[]).some((f) => matchesFilter(f, payload));
    if (key === '$not') return !matchesFilter(condition as PayloadFilter, payload);
    const found = readPath(payload, key);
    if (isPlainObject(condition) && Object.keys(condition).some((k) => k.startsWith('$'))) {
      return Object.entries(condition).every(([op, operand]) => compare(op, operand, found));
    }
    return found.exists && deepEqual(found.value, condition);
  });
}

function compare(op: string, operand: unknown, found: { exists: boolean; value: unknown }): boolean {
  const { exists, value } = found;
  switch (op) {
    case '$exists':
      return exists === operand;
    case '$eq':
      return exists && deepEqual(value, operand);
    case '$neq':
      return !exists || !deepEqual(value, operand);
    case '$in':
      return exists && (operand as unknown[]).some((item) => deepEqual(value, item));
    case '$nin':
      return !exists || !(operand as unknown[]).some((item) => deepEqual(value, item));
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      // Numbers compare with numbers and strings with strings; nothing else is ordered.
      if (!exists || typeof value !== typeof operand || (typeof value !== 'number' && typeof value !== 'string'))
        return false;
      const a = value as number | string;
      const b = operand as number | string;
      return op === '$gt' ? a > b : op === '$gte' ? a >= b : op === '$lt' ? a < b : a <= b;
    }
    case '$regex':
      return exists && typeof value === 'string' && testUserPattern(operand as string, value.slice(0, MAX_REGEX_INPUT));
    default:
      return false;
  }
}

function readPath(payload: unknown, path: string): { exists: boolean; value: unknown } {
  let current: unknown = payload;
  for (const segment of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(segment) && Number(segment) < current.length) {
      current = current[Number(segment)];
    } else if (isPlainObject(current) && Object.hasOwn(current, segment)) {
      current = current[segment];
    } else {
      return { exists: false, value: undefined };
    }
  }
  return { exists: true, value: current };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}
