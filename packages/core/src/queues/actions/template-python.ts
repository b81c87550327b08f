import {
  entriesOf,
  formatFloat,
  formatInt,
  isDict,
  isList,
  isNumeric,
  itemsOf,
  pyRepr,
  pyStr,
  str,
  TemplateError,
  type Value,
} from './template-values.ts';

/**
 * Python's own formatting where Jinja2 filters lean on it: json.dumps, `%` formatting, round(),
 * urllib's quote. Each follows CPython's output for the inputs webhook templates give them.
 */

/** Python's string order: by code point, where JavaScript compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const [x, y] = [Array.from(a), Array.from(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const diff = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
  return x.length - y.length;
}

/** Python's json.dumps(value, sort_keys=True, indent=...) with its default ensure_ascii. */
export function toJson(value: Value, indent: string | null, depth = 0): string {
  const inner = indent === null ? '' : `\n${indent.repeat(depth + 1)}`;
  const outer = indent === null ? '' : `\n${indent.repeat(depth)}`;
  const separator = indent === null ? ', ' : ',';
  const wrap = (open: string, parts: string[], close: string) =>
    parts.length === 0 ? open + close : `${open}${inner}${parts.join(separator + inner)}${outer}${close}`;
  switch (value.type) {
    case 'NullValue':
    case 'UndefinedValue':
      return 'null';
    case 'BooleanValue':
      return value.value ? 'true' : 'false';
    case 'IntegerValue':
      return formatInt(value.value as number | bigint);
    case 'FloatValue': {
      const n = value.value as number;
      if (Number.isFinite(n)) return formatFloat(n);
      return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
    }
    case 'StringValue':
      return JSON.stringify(value.value).replace(
        /[\u007f-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
    case 'ArrayValue':
    case 'TupleValue':
      return wrap(
        '[',
        itemsOf(value).map((item) => toJson(item, indent, depth + 1)),
        ']',
      );
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
    case 'NamespaceValue': {
      const entries = [...entriesOf(value).entries()].sort(([a], [b]) => compareCodePoints(a, b));
      return wrap(
        '{',
        entries.map(([key, item]) => `${toJson(str(key), null)}: ${toJson(item, indent, depth + 1)}`),
        '}',
      );
    }
    default:
      throw new TemplateError(
        `Object of type ${value.type.replace(/Value$/, '').toLowerCase()} is not JSON serializable`,
      );
  }
}

const SPECIFIER = /%(?:\(([^)]*)\))?([-+ 0#]*)(\d+)?(?:\.(\d+))?([sridfFxXo%])?/g;

function formatNumber(kind: string, value: Value, precision: string | undefined): string {
  if (!isNumeric(value)) throw new TemplateError(`%${kind} format: a real number is required, not ${value.type}`);
  const n = Number(value.value);
  if (kind === 'f' || kind === 'F') {
    if (!Number.isFinite(n)) return Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
    const fixed = n.toFixed(Number(precision ?? 6));
    return Object.is(n, -0) ? `-${fixed}` : fixed;
  }
  const whole = Math.trunc(n);
  if (kind === 'x' || kind === 'X' || kind === 'o') {
    const digits = Math.abs(whole).toString(kind === 'o' ? 8 : 16);
    return (whole < 0 ? '-' : '') + (kind === 'X' ? digits.toUpperCase() : digits);
  }
  return formatInt(whole);
}

/** Python's `format % values` (also the `format` filter): `%s`, `%r`, `%d`, `%i`, `%f`, `%x`, `%o`, `%(name)s`. */
export function formatPercent(format: string, values: Value): string {
  const mapping = isDict(values) ? entriesOf(values) : null;
  const positional = values.type === 'TupleValue' ? itemsOf(values) : [values];
  let next = 0;
  const text = format.replace(SPECIFIER, (_whole, name, flags: string, width, precision, kind) => {
    if (kind === undefined) throw new TemplateError('unsupported format character in a % format');
    if (kind === '%') return '%';
    let value: Value | undefined;
    if (name !== undefined) {
      if (!mapping) throw new TemplateError('format requires a mapping');
      value = mapping.get(name);
      if (!value) throw new TemplateError(`KeyError: '${name}'`);
    } else {
      value = positional[next++];
      if (!value) throw new TemplateError('not enough arguments for format string');
    }
    let out = kind === 's' ? pyStr(value) : kind === 'r' ? pyRepr(value) : formatNumber(kind, value, precision);
    if ((kind === 's' || kind === 'r') && precision !== undefined) out = out.slice(0, Number(precision));
    const numeric = kind !== 's' && kind !== 'r';
    if (numeric && !out.startsWith('-') && (flags.includes('+') || flags.includes(' ')))
      out = (flags.includes('+') ? '+' : ' ') + out;
    const size = Number(width ?? 0);
    if (flags.includes('-')) return out.padEnd(size);
    if (numeric && flags.includes('0')) {
      const sign = /^[-+ ]/.test(out) ? out.charAt(0) : '';
      return sign + out.slice(sign.length).padStart(size - sign.length, '0');
    }
    return out.padStart(size);
  });
  // Python lets a leftover dict or list pass (both are mappings to its check); other leftovers are an error.
  if (next < positional.length && !mapping && values.type !== 'ArrayValue') {
    throw new TemplateError('not all arguments converted during string formatting');
  }
  return text;
}

/**
 * Python's round(x, digits): decided on the float's exact decimal value (2.675 is a hair under,
 * so it rounds to 2.67), an exact half going to the even neighbour.
 */
export function roundHalfEven(n: number, digits: number): number {
  if (n === 0 || !Number.isFinite(n) || Math.abs(n) >= 1e21 || digits > 50) return n;
  if (digits < 0) {
    const factor = 10 ** -digits;
    const scaled = n / factor;
    return (Math.abs(scaled % 1) === 0.5 ? 2 * Math.round(scaled / 2) : Math.round(scaled)) * factor;
  }
  // toFixed() gives exact decimal digits; a double's expansion that stops at `digits + 1` shows here.
  const [whole = '', fraction = ''] = Math.abs(n).toFixed(100).split('.');
  if (!/^50*$/.test(fraction.slice(digits))) return Number(n.toFixed(digits));
  const last = Number((digits > 0 ? fraction.slice(0, digits) : whole).at(-1));
  // An exact half: toFixed() rounds it away from zero, Python to the even digit.
  return last % 2 === 0
    ? Number(`${n < 0 ? '-' : ''}${whole}.${fraction.slice(0, digits)}0`)
    : Number(n.toFixed(digits));
}

/** urllib.parse.quote: UTF-8 bytes, letters, digits and `_.-~` kept, and the `safe` characters. */
export function quoteUrl(text: string, safe: string): string {
  return Array.from(new TextEncoder().encode(text), (byte) => {
    const c = String.fromCharCode(byte);
    return /[A-Za-z0-9_.~-]/.test(c) || safe.includes(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** Jinja2's urlencode: a string as a path, a dict or a list of pairs as a query string. */
export function urlencode(value: Value): string {
  const pairs = isDict(value)
    ? [...entriesOf(value).entries()].map(([key, item]) => [key, pyStr(item)])
    : isList(value)
      ? itemsOf(value).map((pair) => (isList(pair) ? itemsOf(pair).map(pyStr) : [pyStr(pair), '']))
      : null;
  if (!pairs) return quoteUrl(pyStr(value), '/');
  const query = (text = '') => quoteUrl(text, '').replaceAll('%20', '+');
  return pairs.map(([key, item]) => `${query(key)}=${query(item)}`).join('&');
}

/** Python's str.center(width). */
export function center(text: string, width: number): string {
  const margin = width - Array.from(text).length;
  if (margin <= 0) return text;
  const left = Math.floor(margin / 2) + (margin & width & 1);
  return ' '.repeat(left) + text + ' '.repeat(margin - left);
}

/** Jinja2's truncate(s, length=255, killwords=False, end='...', leeway=5). */
export function truncate(text: string, length: number, killWords: boolean, end: string, leeway: number): string {
  const points = Array.from(text);
  if (points.length <= length + leeway) return text;
  const kept = points.slice(0, Math.max(length - end.length, 0)).join('');
  if (killWords) return kept + end;
  const space = kept.lastIndexOf(' ');
  return (space < 0 ? kept : kept.slice(0, space)) + end;
}
