import { LRUCache } from 'lru-cache';
import { RE2JS, RE2JSException } from 're2js';

/**
 * Regular expressions that users supply (payload filters now; header and body rules later) run on
 * re2js, a pure-JS port of RE2: matching takes time linear in the input whatever the pattern, so
 * no pattern can stall the process the way a backtracking engine can (`^(a|aa)+$` against
 * "aaa…a!"). It needs no native addon, so it works on every Node and in a browser bundle. The
 * syntax is RE2's; what RE2 cannot run is refused when the pattern is written, never at match time.
 */

/** A pattern users may give: at most this many characters. */
export const MAX_PATTERN_LENGTH = 200;
/**
 * At most this many instructions once compiled. Matching costs up to input length × program size,
 * so this (with the input cap of each caller) bounds the cost of one test; `\w{1000}` is 1,003.
 */
export const MAX_PROGRAM_SIZE = 1_200;

export interface UserPattern {
  readonly source: string;
  /** Instructions once compiled: what one test costs per character read, at worst. */
  readonly size: number;
  /** Whether the pattern matches anywhere in `input` (as RegExp.prototype.test does). */
  test(input: string): boolean;
}

export type CompiledPattern = { ok: true; pattern: UserPattern } | { ok: false; message: string };

/**
 * Compiled patterns, shared by every caller: filters are tested on each publish. Refusals are kept
 * too, so that a stored pattern that no longer compiles is not compiled again on every publish.
 */
const cache = new LRUCache<string, CompiledPattern>({ max: 2_000 });

/**
 * Stands in for re2js's lazy DFA, which it tries before its NFA. On inputs that make the DFA's
 * states explode (`[ab]*a[ab]{100}$` on random a/b text) the DFA fills its 8 MiB, starts again,
 * gives up and leaves the NFA to do the work anyway: a test then costs about 0.3 s whatever the
 * pattern's size, and every cached pattern may hold 8 MiB. The NFA alone costs in proportion to
 * the instructions alive at each character, so the size of a pattern is what a test costs.
 */
const NO_DFA = { match: () => null };

/** Compiles a user's pattern, or says in a sentence why it cannot be used. */
export function compileUserPattern(source: string): CompiledPattern {
  const cached = cache.get(source);
  if (cached) return cached;
  const compiled = compile(source);
  // A refusal for length is cheap to repeat; keeping it would keep a long string alive.
  if (source.length <= MAX_PATTERN_LENGTH) cache.set(source, compiled);
  return compiled;
}

function compile(source: string): CompiledPattern {
  if (source.length > MAX_PATTERN_LENGTH) {
    return { ok: false, message: `must be a regular expression of at most ${MAX_PATTERN_LENGTH} characters` };
  }
  const unsupported = findUnsupportedFeature(source);
  if (unsupported) {
    return {
      ok: false,
      message: `uses ${unsupported}, which is not supported: patterns use RE2 syntax, which matches in linear time`,
    };
  }
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(source);
  } catch (error) {
    if (!(error instanceof RE2JSException)) throw error;
    const reason = error.message.replace(/^error parsing regexp: /, '');
    return { ok: false, message: `is not a regular expression RE2 accepts: ${reason}` };
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) {
    return { ok: false, message: 'is too complex: use fewer or smaller repetitions' };
  }
  (compiled.re2Input as unknown as { lazyDFA: unknown }).lazyDFA = NO_DFA;
  const pattern: UserPattern = { source, size: compiled.programSize(), test: (input) => compiled.test(input) };
  return { ok: true, pattern };
}

/** Whether `input` matches `source` anywhere; a pattern that cannot be compiled matches nothing. */
export function testUserPattern(source: string, input: string): boolean {
  const compiled = compileUserPattern(source);
  return compiled.ok && compiled.pattern.test(input);
}

/**
 * The backtracking-only features people write out of habit, named in words: RE2's own parse error
 * for them ("invalid escape sequence: `\1`") does not say why. Only looks outside character classes.
 */
function findUnsupportedFeature(source: string): string | null {
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    const rest = source.slice(i);
    if (char === '\\') {
      const next = source[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `a backreference (\\${next})`;
      if (!inClass && next === 'k' && source[i + 2] === '<') return 'a named backreference (\\k<…>)';
      if (!inClass && (next === 'G' || next === 'Z' || next === 'K')) return `\\${next}`;
      i++;
      continue;
    }
    if (inClass) {
      if (char === ']') inClass = false;
      continue;
    }
    if (char === '[') {
      inClass = true;
      // A `]` right after `[` or `[^` is a literal, not the end of the class.
      if (source[i + 1] === '^') i++;
      if (source[i + 1] === ']') i++;
      continue;
    }
    if (rest.startsWith('(?=') || rest.startsWith('(?!')) return `a lookahead (${rest.slice(0, 3)}…)`;
    if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) return `a lookbehind (${rest.slice(0, 4)}…)`;
    if (rest.startsWith('(?>')) return 'an atomic group ((?>…))';
    if (rest.startsWith('(?(')) return 'a conditional ((?(…)…))';
    if (/^\(\?(R|[+-]?\d|&|P>)/.test(rest)) return 'recursion or a subroutine call';
    if (/^[*+?}]\+/.test(rest) && i > 0) return `a possessive quantifier (${rest.slice(0, 2)})`;
  }
  return null;
}
