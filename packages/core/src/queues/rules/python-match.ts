import { compileUserPattern, MAX_PATTERN_LENGTH } from '../../shared/safe-regex.ts';

/** Characters of a value a pattern is tested against: the first 64 KiB. */
export const MAX_TESTED_LENGTH = 65_536;

export interface RulePattern {
  /** As written in the rules. */
  readonly source: string;
  readonly size: number;
  test(input: string): boolean;
}

/*
 * Python's `re.match` and `str()` on RE2 and JSON, for webhook-proxy's rules. Known differences, left as they are: `\d`, `\w`,
 * `\s` and `\b` are ASCII in RE2 and Unicode in Python; JSON.parse loses the difference between
 * `1` and `1.0` (both print as `1`), and the digits of integers past 2^53; JavaScript objects put
 * integer-like keys first, so a mapping may print its keys in another order than Python would.
 */

/**
 * Compiles a pattern to be matched as `re.match` matches: at the start of the value only, its end
 * left open. The pattern is compiled alone first, so that one which closes a group it did not open
 * (`a)|(b`) is refused instead of escaping the anchor once wrapped.
 */
export function preparePattern(source: string): { ok: true; pattern: RulePattern } | { ok: false; message: string } {
  const translated = translatePythonSyntax(source);
  // Without a flag, `^` in RE2 is the start of the text even where a group inside sets (?m).
  const anchored = `^(?:${translated})`;
  if (anchored.length > MAX_PATTERN_LENGTH) {
    return {
      ok: false,
      message: `must be at most ${MAX_PATTERN_LENGTH - (anchored.length - source.length)} characters long`,
    };
  }
  const alone = compileUserPattern(translated);
  if (!alone.ok) return alone;
  const compiled = compileUserPattern(anchored);
  if (!compiled.ok) return compiled;
  const { size, test } = compiled.pattern;
  return { ok: true, pattern: { source, size, test } };
}

/**
 * Python's `$` matches at the end and also before a newline that ends the value (`'^x$'` matches
 * "x\n"); RE2's only at the end, so it becomes `\n?\z`. Not under a multi-line flag, where both
 * mean the end of any line. Python's `\Z` is RE2's `\z`.
 */
function translatePythonSyntax(source: string): string {
  const multiLine = /\(\?[a-zA-Z-]*m[a-zA-Z-]*[:)]/.test(source);
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i] ?? '';
    if (char === '\\') {
      const next = source[i + 1] ?? '';
      if (next === 'Q') {
        // RE2's quoted literal text, copied as it is up to `\E`.
        const end = source.indexOf('\\E', i + 2);
        const stop = end === -1 ? source.length : end + 2;
        out += source.slice(i, stop);
        i = stop - 1;
        continue;
      }
      out += !inClass && next === 'Z' ? '\\z' : char + next;
      i++;
    } else if (inClass) {
      const posix = source.startsWith('[:', i) ? source.indexOf(':]', i + 2) : -1;
      if (posix !== -1) {
        out += source.slice(i, posix + 2);
        i = posix + 1;
        continue;
      }
      if (char === ']') inClass = false;
      out += char;
    } else if (char === '[') {
      inClass = true;
      // A `]` right after `[` or `[^` is a literal, not the end of the class.
      const literal = /^\[\^?\]?/.exec(source.slice(i))?.[0] ?? '[';
      out += literal;
      i += literal.length - 1;
    } else if (char === '$' && !multiLine) {
      out += /[*+?{]/.test(source[i + 1] ?? '') ? '(?:\\n?\\z)' : '\\n?\\z';
    } else {
      out += char;
    }
  }
  return out;
}

const MAX_REPR_DEPTH = 100;

/** What Python's `str()` prints for a JSON value, cut after `limit` characters. */
export function formatPythonStr(value: unknown, limit = MAX_TESTED_LENGTH): string {
  if (typeof value === 'string') return value;
  const out = { text: '', limit };
  writeRepr(value, out, 0);
  return out.text.length > limit ? out.text.slice(0, limit) : out.text;
}

function writeRepr(value: unknown, out: { text: string; limit: number }, depth: number): void {
  if (out.text.length > out.limit) return;
  if (value === null || value === undefined) out.text += 'None';
  else if (typeof value === 'boolean') out.text += value ? 'True' : 'False';
  else if (typeof value === 'number') out.text += formatPythonFloat(value);
  else if (typeof value === 'bigint') out.text += String(value);
  else if (typeof value === 'string') out.text += formatPythonString(value.slice(0, out.limit));
  else if (depth >= MAX_REPR_DEPTH) out.text += Array.isArray(value) ? '[...]' : '{...}';
  else if (Array.isArray(value)) writeItems(value, out, '[', ']', (item) => writeRepr(item, out, depth + 1));
  else if (typeof value === 'object') {
    writeItems(Object.entries(value), out, '{', '}', ([key, item]) => {
      out.text += `${formatPythonString(key)}: `;
      writeRepr(item, out, depth + 1);
    });
  } else out.text += String(value);
}

function writeItems<T>(
  items: T[],
  out: { text: string; limit: number },
  open: string,
  close: string,
  write: (item: T) => void,
): void {
  out.text += open;
  for (const [i, item] of items.entries()) {
    if (out.text.length > out.limit) return;
    if (i > 0) out.text += ', ';
    write(item);
  }
  out.text += close;
}

/** Python's repr() of a str: single quotes unless the text holds one and no double quote. */
function formatPythonString(text: string): string {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/[\\'"]|[^\x20-\x7e\xa1-\xac\xae-\uffff]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === "'" || c === '"') return c === q ? `\\${c}` : c;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
  return `${q}${escaped}${q}`;
}

/**
 * A JSON number as Python prints it: integers (as JSON.parse cannot tell `1.0` from `1`) in full,
 * others as `repr(float)` does: the shortest digits that read back the same, in positional form
 * from 1e-4 up to 1e16 (`0.0001`, `1.5`, `1000000000000000.0`), else in exponent form (`1e-05`, `1e+20`).
 */
export function formatPythonFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER) return String(value);
  const [mantissa = '', exponent = '0'] = value.toExponential().split('e');
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace(/[-.]/g, '');
  // Where the decimal point falls: the value is 0.<digits> times 10 to this power.
  const point = Number(exponent) + 1;
  if (point <= -4 || point > 16) {
    const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const power = point - 1;
    return `${sign}${head}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
