import {
  center,
  compareCodePoints,
  formatPercent,
  roundHalfEven,
  toJson,
  truncate,
  urlencode,
} from './template-python.ts';
import {
  dict,
  entriesOf,
  float,
  int,
  isDict,
  isList,
  isNumeric,
  itemsOf,
  list,
  pyStr,
  str,
  TemplateError,
  tuple,
  undef,
  type Value,
} from './template-values.ts';

/**
 * Jinja2's filters, as Jinja2 runs them, where @huggingface/jinja lacks them or does them the
 * JavaScript way (`join` printing `true`, `tojson` unsorted, `first` of an empty list crashing).
 * A few run as the library has them (LIBRARY_FILTERS); any other name is refused when compiling.
 */

/** The largest text a render may produce, and any single string it may build on the way. */
export const MAX_OUTPUT_CHARS = 1024 * 1024;
/** The same bound as Jinja2's sandbox puts on `range()`. */
export const MAX_RANGE = 100_000;
const MAX_INDENT = 1_000;

export type Kwargs = Map<string, Value>;

/** Applies a filter by name: `map('upper')` needs the whole set, the library's included. */
export type ApplyFilter = (value: Value, name: string, args: Value[], kwargs: Kwargs) => Value;

type Filter = (value: Value, args: Value[], kwargs: Kwargs, apply: ApplyFilter) => Value;

const param = (args: Value[], kwargs: Kwargs, index: number, name: string): Value | undefined =>
  args[index] ?? kwargs.get(name);
const isTrue = (value: Value | undefined) => value?.__bool__().value === true;
/** An argument given as None counts as not given, as Python's `attribute=None` defaults do. */
const present = (value: Value | undefined) =>
  value && value.type !== 'NullValue' && value.type !== 'UndefinedValue' ? value : undefined;

function typeName(value: Value): string {
  const names: Record<string, string> = { IntegerValue: 'int', FloatValue: 'float', BooleanValue: 'bool' };
  return (
    names[value.type] ?? (value.type === 'NullValue' ? 'NoneType' : value.type.replace(/Value$/, '').toLowerCase())
  );
}

/** What Python's `for` walks: a list's items, a string's characters, a dict's keys. */
export function iterate(value: Value): Value[] {
  if (isList(value)) return itemsOf(value);
  if (value.type === 'StringValue') return Array.from(value.value as string, str);
  if (isDict(value)) return [...entriesOf(value).keys()].map(str);
  if (value.type === 'UndefinedValue') return [];
  throw new TemplateError(`'${typeName(value)}' object is not iterable`);
}

/** Jinja2's attribute lookup for `map(attribute=)` and `join(attribute=)`: `a.b`, `items.0`. */
function attributeOf(item: Value, path: string): Value {
  let current = item;
  for (const part of path.split('.')) {
    if (isDict(current) || current.type === 'NamespaceValue') current = entriesOf(current).get(part) ?? undef();
    else if (isList(current) && /^\d+$/.test(part)) current = itemsOf(current)[Number(part)] ?? undef();
    else return undef();
  }
  return current;
}

function checkLength(length: number): void {
  if (length > MAX_OUTPUT_CHARS)
    throw new TemplateError(`Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`);
}

/** Python's str.replace, an empty `old` included; refuses a result over the output limit before building it. */
function replaceText(text: string, old: string, replacement: string, count: number): string {
  const limit = count < 0 ? Number.POSITIVE_INFINITY : count;
  const parts = old === '' ? ['', ...Array.from(text), ''] : text.split(old);
  const hits = Math.min(parts.length - 1, limit);
  checkLength(text.length + hits * (replacement.length - old.length));
  const joiner = old === '' ? '' : old;
  return (
    parts.slice(0, hits + 1).join(replacement) +
    (hits < parts.length - 1 ? joiner : '') +
    parts.slice(hits + 1).join(joiner)
  );
}

/** Jinja2's tojson: the JSON made safe to put in HTML, as its `htmlsafe_json_dumps` does. */
function filterToJson(value: Value, args: Value[], kwargs: Kwargs): Value {
  const indent = param(args, kwargs, 0, 'indent');
  let unit: string | null = null;
  if (indent?.type === 'StringValue') unit = indent.value as string;
  else if (indent?.type === 'IntegerValue')
    unit = ' '.repeat(Math.min(Math.max(indent.value as number, 0), MAX_INDENT));
  const json = toJson(value, unit);
  const safe: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', "'": '\\u0027' };
  return str(json.replace(/[<>&']/g, (c) => safe[c] ?? c));
}

function filterIndent(value: Value, args: Value[], kwargs: Kwargs): Value {
  const width = param(args, kwargs, 0, 'width') ?? int(4);
  const size = width.type === 'StringValue' ? (width.value as string).length : Number(width.value);
  if (!(size <= MAX_INDENT)) throw new TemplateError(`indent() is limited to ${MAX_INDENT} characters`);
  const unit = width.type === 'StringValue' ? (width.value as string) : ' '.repeat(size);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the line breaks of Python's str.splitlines()
  const lines = `${pyStr(value)}\n`.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/).slice(0, -1);
  let text: string;
  if (isTrue(param(args, kwargs, 2, 'blank'))) text = lines.join(`\n${unit}`);
  else text = [lines[0] ?? '', ...lines.slice(1).map((line) => (line ? unit + line : line))].join('\n');
  return str(isTrue(param(args, kwargs, 1, 'first')) ? unit + text : text);
}

function filterMap(value: Value, args: Value[], kwargs: Kwargs, apply: ApplyFilter): Value {
  const items = iterate(value);
  const attribute = present(kwargs.get('attribute'));
  if (attribute) {
    const fallback = kwargs.get('default');
    return list(
      items.map((item) => {
        const found = attributeOf(item, pyStr(attribute));
        return found.type === 'UndefinedValue' && fallback ? fallback : found;
      }),
    );
  }
  const [name, ...rest] = args;
  if (name?.type !== 'StringValue') throw new TemplateError('map() needs a filter name or attribute=');
  return list(items.map((item) => apply(item, name.value as string, rest, kwargs)));
}

function length(value: Value): number {
  if (value.type === 'StringValue') return Array.from(value.value as string).length;
  if (isList(value)) return itemsOf(value).length;
  if (isDict(value) || value.type === 'NamespaceValue') return entriesOf(value).size;
  if (value.type === 'UndefinedValue') return 0;
  throw new TemplateError(`object of type '${typeName(value)}' has no len()`);
}

function filterDefault(value: Value, args: Value[], kwargs: Kwargs): Value {
  const fallback = param(args, kwargs, 0, 'default_value') ?? str('');
  const whenFalse = isTrue(param(args, kwargs, 1, 'boolean'));
  return value.type === 'UndefinedValue' || (whenFalse && !isTrue(value)) ? fallback : value;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escapeHtml: Filter = (value) => str(pyStr(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c));

function strip(text: string, chars: Value | undefined): string {
  if (!chars || chars.type === 'NullValue' || chars.type === 'UndefinedValue') return text.trim();
  const set = new Set(Array.from(pyStr(chars)));
  const points = Array.from(text);
  let [start, end] = [0, points.length];
  while (start < end && set.has(points[start] as string)) start++;
  while (end > start && set.has(points[end - 1] as string)) end--;
  return points.slice(start, end).join('');
}

const number = (value: Value | undefined, fallback: number): number =>
  value && isNumeric(value) ? Number(value.value) : fallback;

function filterRound(value: Value, args: Value[], kwargs: Kwargs): Value {
  if (!isNumeric(value)) throw new TemplateError(`round() needs a number, not ${typeName(value)}`);
  const digits = number(param(args, kwargs, 0, 'precision'), 0);
  const method = pyStr(param(args, kwargs, 1, 'method') ?? str('common'));
  const n = Number(value.value);
  if (method === 'common') return value.type === 'FloatValue' ? float(roundHalfEven(n, digits)) : int(n);
  if (method !== 'ceil' && method !== 'floor') throw new TemplateError('round() method must be common, ceil or floor');
  return float(Math[method](n * 10 ** digits) / 10 ** digits);
}

/** Sort keys as Jinja2 makes them: strings lower-cased unless case_sensitive. */
function sortKey(value: Value, caseSensitive: boolean): Value {
  return value.type === 'StringValue' && !caseSensitive ? str((value.value as string).toLowerCase()) : value;
}

function compareValues(a: Value, b: Value): number {
  if (isNumeric(a) && isNumeric(b)) return Number(a.value) - Number(b.value);
  if (a.type === 'StringValue' && b.type === 'StringValue')
    return compareCodePoints(a.value as string, b.value as string);
  throw new TemplateError(`'<' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
}

function extreme(sign: 1 | -1): Filter {
  return (value, args, kwargs) => {
    const caseSensitive = isTrue(param(args, kwargs, 0, 'case_sensitive'));
    const attribute = present(param(args, kwargs, 1, 'attribute'));
    const keyOf = (item: Value) => sortKey(attribute ? attributeOf(item, pyStr(attribute)) : item, caseSensitive);
    return (
      iterate(value).reduce<Value | undefined>(
        (best, item) => (best === undefined || sign * compareValues(keyOf(item), keyOf(best)) < 0 ? item : best),
        undefined,
      ) ?? undef()
    );
  };
}

function filterSum(value: Value, args: Value[], kwargs: Kwargs): Value {
  const attribute = present(param(args, kwargs, 0, 'attribute'));
  let total = param(args, kwargs, 1, 'start') ?? int(0);
  for (const item of iterate(value)) {
    const next = attribute ? attributeOf(item, pyStr(attribute)) : item;
    if (!isNumeric(next) || !isNumeric(total)) throw new TemplateError(`sum() adds numbers, not ${typeName(next)}`);
    const sum = Number(total.value) + Number(next.value);
    total = total.type === 'FloatValue' || next.type === 'FloatValue' ? float(sum) : int(sum);
  }
  return total;
}

function filterDictsort(value: Value, args: Value[], kwargs: Kwargs): Value {
  if (!isDict(value)) throw new TemplateError('dictsort() sorts a dict');
  const caseSensitive = isTrue(param(args, kwargs, 0, 'case_sensitive'));
  const index = pyStr(param(args, kwargs, 1, 'by') ?? str('key')) === 'value' ? 1 : 0;
  const order = isTrue(param(args, kwargs, 2, 'reverse')) ? -1 : 1;
  const pairs = [...entriesOf(value).entries()].map(([key, item]) => [str(key), item] as [Value, Value]);
  pairs.sort(
    (a, b) =>
      order * compareValues(sortKey(a[index] as Value, caseSensitive), sortKey(b[index] as Value, caseSensitive)),
  );
  return list(pairs.map((pair) => tuple(pair)));
}

function filterTruncate(value: Value, args: Value[], kwargs: Kwargs): Value {
  const length = number(param(args, kwargs, 0, 'length'), 255);
  const killWords = isTrue(param(args, kwargs, 1, 'killwords'));
  const end = pyStr(param(args, kwargs, 2, 'end') ?? str('...'));
  return str(truncate(pyStr(value), length, killWords, end, number(param(args, kwargs, 3, 'leeway'), 5)));
}

/** A Map, so that no name reaches Object.prototype (`constructor`, `toString`). */
export const FILTERS: ReadonlyMap<string, Filter> = new Map(
  Object.entries({
    string: (value) => str(pyStr(value)),
    join: (value, args, kwargs) => {
      const attribute = present(param(args, kwargs, 1, 'attribute'));
      const items = iterate(value).map((item) => (attribute ? attributeOf(item, pyStr(attribute)) : item));
      const text = items.map(pyStr).join(pyStr(param(args, kwargs, 0, 'd') ?? str('')));
      checkLength(text.length);
      return str(text);
    },
    tojson: filterToJson,
    first: (value) => iterate(value)[0] ?? undef(),
    last: (value) => iterate(value).at(-1) ?? undef(),
    length: (value) => int(length(value)),
    count: (value) => int(length(value)),
    list: (value) => list(iterate(value)),
    default: filterDefault,
    d: filterDefault,
    upper: (value) => str(pyStr(value).toUpperCase()),
    lower: (value) => str(pyStr(value).toLowerCase()),
    capitalize: (value) => {
      const [head = '', ...rest] = Array.from(pyStr(value));
      return str(head.toUpperCase() + rest.join('').toLowerCase());
    },
    title: (value) =>
      str(
        pyStr(value)
          .split(/([-\s({[<]+)/)
          .map((part) => {
            const [head = '', ...rest] = Array.from(part);
            return head.toUpperCase() + rest.join('').toLowerCase();
          })
          .join(''),
      ),
    trim: (value, args, kwargs) => str(strip(pyStr(value), param(args, kwargs, 0, 'chars'))),
    replace: (value, args, kwargs) => {
      const count = param(args, kwargs, 2, 'count');
      const limit = count && count.type !== 'NullValue' ? Number(count.value) : -1;
      const [old, replacement] = [param(args, kwargs, 0, 'old'), param(args, kwargs, 1, 'new')];
      if (!old || !replacement) throw new TemplateError('replace() needs the text to find and its replacement');
      return str(replaceText(pyStr(value), pyStr(old), pyStr(replacement), limit));
    },
    indent: filterIndent,
    map: filterMap,
    e: escapeHtml,
    escape: escapeHtml,
    center: (value, args, kwargs) => {
      const width = number(param(args, kwargs, 0, 'width'), 80);
      checkLength(width);
      return str(center(pyStr(value), width));
    },
    format: (value, args, kwargs) => str(formatPercent(pyStr(value), kwargs.size > 0 ? dict(kwargs) : tuple(args))),
    round: filterRound,
    urlencode: (value) => str(urlencode(value)),
    truncate: filterTruncate,
    wordcount: (value) => int(pyStr(value).match(/[\p{L}\p{N}_]+/gu)?.length ?? 0),
    sum: filterSum,
    min: extreme(1),
    max: extreme(-1),
    dictsort: filterDictsort,
    reverse: (value) =>
      value.type === 'StringValue'
        ? str(
            Array.from(value.value as string)
              .reverse()
              .join(''),
          )
        : list([...iterate(value)].reverse()),
  } satisfies Record<string, Filter>),
);

/** Filters that run as @huggingface/jinja has them. */
export const LIBRARY_FILTERS: ReadonlySet<string> = new Set([
  'safe',
  'sort',
  'unique',
  'int',
  'float',
  'abs',
  'items',
  'selectattr',
  'rejectattr',
]);
