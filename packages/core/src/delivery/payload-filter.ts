import { compileUserPattern, type UserPattern } from '../shared/safe-regex.ts';

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
/**
 * A filter's `$regex` operators together: at most this many, and at most this many compiled
 * instructions in all. A test costs in proportion to its pattern's instructions times the
 * characters read, so the total bounds a publish's cost for the whole filter, however its
 * operators are spread across `$or` branches or fields. The total is one pattern's own limit: a
 * filter costs no more than the costliest single pattern already allowed. Measured at these limits
 * on 10,000-character values chosen to keep every instruction alive (`(?:\pL|\pN|\pP){K}$` on
 * Greek letters, the costliest found; `[ab]*a[ab]{K}$` on random a/b), a filter's worst test takes
 * about 1 s of one core; an ordinary pattern a few milliseconds.
 */
export const MAX_FILTER_PATTERNS = 10;
export const MAX_FILTER_PROGRAM_SIZE = 1_200;

type Problem = { path: string; message: string };

/** Every problem of a filter, by path; empty when it can be used. */
export function checkFilter(filter: unknown): Problem[] {
  return inspect(filter).problems;
}

function inspect(filter: unknown): { problems: Problem[]; patterns: UserPattern[] } {
  const patterns: UserPattern[] = [];
  const problems = checkNode(filter, 'filter', 0, patterns);
  if (patterns.length > MAX_FILTER_PATTERNS) {
    problems.push({ path: 'filter', message: `may hold at most ${MAX_FILTER_PATTERNS} regular expressions ($regex)` });
  } else if (patterns.reduce((total, pattern) => total + pattern.size, 0) > MAX_FILTER_PROGRAM_SIZE) {
    problems.push({
      path: 'filter',
      message: 'has regular expressions that are too complex together: use fewer or simpler ones',
    });
  }
  return { problems, patterns };
}

function checkNode(filter: unknown, path: string, depth: number, patterns: UserPattern[]): Problem[] {
  if (depth > MAX_DEPTH) return [{ path, message: `nests deeper than ${MAX_DEPTH} levels` }];
  if (!isPlainObject(filter)) return [{ path, message: 'must be an object' }];
  const problems: Problem[] = [];
  for (const [key, value] of Object.entries(filter)) {
    const here = `${path}.${key}`;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) {
        problems.push({ path: here, message: 'must be a non-empty list of filters' });
      } else {
        for (const [i, item] of value.entries()) problems.push(...checkNode(item, `${here}.${i}`, depth + 1, patterns));
      }
    } else if (key === '$not') {
      problems.push(...checkNode(value, here, depth + 1, patterns));
    } else if (key.startsWith('$')) {
      problems.push({ path: here, message: `"${key}" is not an operator here; use $and, $or, $not, or a JSON path` });
    } else if (isPlainObject(value) && Object.keys(value).some((k) => k.startsWith('$'))) {
      for (const [op, operand] of Object.entries(value)) {
        const message = checkComparison(op, operand, patterns);
        if (message) problems.push({ path: `${here}.${op}`, message });
      }
    }
  }
  return problems;
}

function checkComparison(op: string, operand: unknown, patterns: UserPattern[]): string | null {
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
    patterns.push(compiled.pattern);
  }
  return null;
}

/**
 * A filter ready to test payloads with, or why it cannot be used. One stored before a rule it now
 * breaks (a lookahead, or more patterns than a filter may hold) cannot be: it matches nothing at
 * all, even where a `$not` would have turned one failed operator into "everything".
 */
export type CompiledFilter =
  | { ok: true; matches(payload: unknown): boolean }
  | { ok: false; path: string; reason: string };

/** Compiles a stored filter's patterns once, for every payload tested with it. */
export function compileFilter(filter: PayloadFilter): CompiledFilter {
  const { problems, patterns } = inspect(filter);
  const [problem] = problems;
  if (problem) return { ok: false, path: problem.path, reason: problem.message };
  const bySource = new Map(patterns.map((pattern) => [pattern.source, pattern]));
  return { ok: true, matches: (payload) => matchesNode(filter, payload, bySource) };
}

/** Whether a payload satisfies a filter; one that cannot be compiled matches nothing. */
export function matchesFilter(filter: PayloadFilter, payload: unknown): boolean {
  const compiled = compileFilter(filter);
  return compiled.ok && compiled.matches(payload);
}

type Patterns = ReadonlyMap<string, UserPattern>;

function matchesNode(filter: PayloadFilter, payload: unknown, patterns: Patterns): boolean {
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as PayloadFilter[]).every((f) => matchesNode(f, payload, patterns));
    if (key === '$or') return (condition as PayloadFilter[]).some((f) => matchesNode(f, payload, patterns));
    if (key === '$not') return !matchesNode(condition as PayloadFilter, payload, patterns);
    const found = readPath(payload, key);
    if (isPlainObject(condition) && Object.keys(condition).some((k) => k.startsWith('$'))) {
      return Object.entries(condition).every(([op, operand]) => compare(op, operand, found, patterns));
    }
    return found.exists && deepEqual(found.value, condition);
  });
}

function compare(
  op: string,
  operand: unknown,
  found: { exists: boolean; value: unknown },
  patterns: Patterns,
): boolean {
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
    case '$regex': {
      const pattern = patterns.get(operand as string);
      return exists && typeof value === 'string' && pattern?.test(value.slice(0, MAX_REGEX_INPUT)) === true;
    }
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
