import * as jinja from '@huggingface/jinja';

/**
 * The values templates see, and how they print. Templates run on @huggingface/jinja; its runtime
 * values print the JavaScript way (`null`, `true`, `["a"]`), while webhook-proxy's templates print
 * as Python does (`None`, `True`, `['a']`). Everything here follows Python so that a file written
 * for webhook-proxy renders the same text.
 *
 * Sandbox: what a template can reach is decided in `toRuntime`. Attribute and item access is a
 * `Map.get` on the maps built here, which read own data properties only: `constructor`,
 * `__proto__`, `__class__` or `toString` find nothing, and no getter ever runs. Functions are the
 * ones a scope hands in, called with plain data.
 */

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/**
 * A function a scope hands to templates. It receives plain values (null for None, undefined for
 * an undefined variable, arrays and plain objects) and returns one; throwing TemplateError fails
 * the render with that message.
 */
export type TemplateFunction = (args: unknown[], kwargs: Record<string, unknown>) => unknown;

/** A mapping read on each access: case-insensitive headers, values that another action may set. */
export class TemplateMapping {
  constructor(
    readonly lookup: (key: string) => unknown,
    readonly listKeys: () => string[],
  ) {}
}

/** A number that prints as a Python float (`1700000000.0`, not `1700000000`). */
export class TemplateFloat {
  constructor(readonly value: number) {}
}

/**
 * @huggingface/jinja's declarations import their own files without extensions, which NodeNext
 * resolution cannot follow, so its exports arrive untyped: these are the shapes used here.
 */
export interface Value {
  readonly type: string;
  readonly value: unknown;
  __bool__(): { value: boolean };
}
export interface Scope {
  set(name: string, value: unknown): Value;
  setVariable(name: string, value: Value): Value;
}
export interface Token {
  value: string;
  type: string;
}
export interface Node {
  type: string;
}
export interface Program extends Node {
  body: Node[];
}
export interface Runner {
  run(program: Program): Value;
  evaluate(node: Node | undefined, scope: Scope): Value;
}
export const Environment = jinja.Environment as new () => Scope;
export const Interpreter = jinja.Interpreter as new (scope: Scope) => Runner;
export const tokenize = jinja.tokenize as (source: string, options: object) => Token[];
export const parse = jinja.parse as (tokens: Token[]) => Program;

// The runtime value classes are not exported; each is taken from a value the library builds.
type ValueClass = new (value?: unknown) => Value;
const classOf = (sample: unknown) => new Environment().set('v', sample).constructor as ValueClass;
const IntV = classOf(1);
const FloatV = classOf(0.5);
const StrV = classOf('');
const BoolV = classOf(true);
const NullV = classOf(null);
const UndefV = classOf(undefined);
const ListV = classOf([]);
const DictV = classOf({});
const FuncV = classOf(() => null);
// No scope value converts to a tuple: one is taken from the interpreter instead.
const TupleV = new Interpreter(new Environment()).evaluate(
  { type: 'TupleLiteral', value: [] } as Node,
  new Environment(),
).constructor as ValueClass;

export const str = (s: string): Value => new StrV(s);
/** A bigint only where a number would lose digits (a JSON body's 64-bit ids). */
export const int = (n: number | bigint): Value =>
  new IntV(typeof n === 'bigint' && Number.isSafeInteger(Number(n)) ? Number(n) : n);
export const float = (n: number): Value => new FloatV(n);
export const bool = (b: boolean): Value => new BoolV(b);
export const none = (): Value => new NullV(null);
export const undef = (): Value => new UndefV(undefined);
export const list = (items: Value[]): Value => new ListV(items);
export const tuple = (items: Value[]): Value => new TupleV(items);
export const dict = (map: Map<string, Value>): Value => new DictV(map);
export const func = (fn: (args: Value[]) => Value): Value => new FuncV(fn);

export const isNumeric = (v: Value) =>
  v.type === 'IntegerValue' || v.type === 'FloatValue' || v.type === 'BooleanValue';
export const isList = (v: Value) => v.type === 'ArrayValue' || v.type === 'TupleValue';
export const isDict = (v: Value) => v.type === 'ObjectValue' || v.type === 'KeywordArgumentsValue';
export const itemsOf = (v: Value) => v.value as Value[];
export const entriesOf = (v: Value) => v.value as Map<string, Value>;

/** A read-only view of a mapping whose entries become runtime values when read. */
class MappingView extends Map<string, Value> {
  readonly #lookup: (key: string) => unknown;
  readonly #keys: () => string[];
  readonly #seen: Map<string, Value> | null;
  constructor(lookup: (key: string) => unknown, keys: () => string[], live: boolean) {
    super();
    this.#lookup = lookup;
    this.#keys = keys;
    this.#seen = live ? null : new Map();
  }
  override get(key: string): Value | undefined {
    if (typeof key !== 'string') return undefined;
    const seen = this.#seen?.get(key);
    if (seen) return seen;
    const raw = this.#lookup(key);
    if (raw === undefined) return undefined;
    const value = toRuntime(raw);
    this.#seen?.set(key, value);
    return value;
  }
  override has(key: string): boolean {
    return this.get(key) !== undefined;
  }
  override get size(): number {
    return this.#keys().length;
  }
  #snapshot(): Map<string, Value> {
    return new Map(this.#keys().map((key) => [key, this.get(key) ?? undef()]));
  }
  override entries() {
    return this.#snapshot().entries();
  }
  override keys() {
    return this.#snapshot().keys();
  }
  override values() {
    return this.#snapshot().values();
  }
  override [Symbol.iterator]() {
    return this.entries();
  }
  override forEach(callback: (value: Value, key: string, map: Map<string, Value>) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }
  override set(): this {
    throw new TemplateError('This mapping is read-only');
  }
  override delete(): boolean {
    throw new TemplateError('This mapping is read-only');
  }
  override clear(): void {
    throw new TemplateError('This mapping is read-only');
  }
}

/** Own enumerable data properties only: never a getter, never anything from a prototype. */
function readOwn(object: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  return descriptor?.enumerable && 'value' in descriptor ? descriptor.value : undefined;
}

/** Turns a scope value into a runtime value; what a template can reach is decided here. */
export function toRuntime(input: unknown): Value {
  switch (typeof input) {
    case 'string':
      return str(input);
    case 'boolean':
      return bool(input);
    case 'number':
      return Number.isInteger(input) ? int(input) : float(input);
    case 'bigint':
      return int(input);
    case 'undefined':
      return undef();
    case 'function':
      return func((args) => callScopeFunction(input as TemplateFunction, args));
    case 'object': {
      if (input === null) return none();
      if (input instanceof TemplateFloat) return float(input.value);
      if (input instanceof TemplateMapping) return dict(new MappingView(input.lookup, input.listKeys, true));
      if (Array.isArray(input)) return list(input.map(toRuntime));
      const keys = () => Object.keys(input).filter((key) => readOwn(input, key) !== undefined);
      return dict(new MappingView((key) => readOwn(input, key), keys, false));
    }
    default:
      return undef();
  }
}

function callScopeFunction(fn: TemplateFunction, args: Value[]): Value {
  const last = args.at(-1);
  const named = last?.type === 'KeywordArgumentsValue' ? last : undefined;
  const positional = named ? args.slice(0, -1) : args;
  return toRuntime(fn(positional.map(toPlain), named ? (toPlain(named) as Record<string, unknown>) : {}));
}

/** Turns a runtime value into plain JSON-like data for scope functions. */
export function toPlain(value: Value): unknown {
  switch (value.type) {
    case 'NullValue':
      return null;
    case 'UndefinedValue':
      return undefined;
    case 'IntegerValue':
      // Plain data stays JSON: a bigint becomes the nearest number.
      return Number(value.value);
    case 'FloatValue':
    case 'StringValue':
    case 'BooleanValue':
      return value.value;
    case 'ArrayValue':
    case 'TupleValue':
      return itemsOf(value).map(toPlain);
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
    case 'NamespaceValue':
      return Object.fromEntries([...entriesOf(value).entries()].map(([key, item]) => [key, toPlain(item)]));
    default:
      throw new TemplateError('A function cannot be passed as a value');
  }
}

// ---- Python's str() and repr() -------------------------------------------------------------

export function formatInt(n: number | bigint): string {
  return typeof n === 'bigint' || Number.isSafeInteger(n) || !Number.isFinite(n) ? String(n) : BigInt(n).toString();
}

/** Python's repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function formatFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa = '', exponent = '0'] = n.toExponential().split('e');
  const power = Number(exponent);
  if (power < -4 || power >= 16)
    return `${mantissa}e${power < 0 ? '-' : '+'}${String(Math.abs(power)).padStart(2, '0')}`;
  const fixed = String(n);
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\\]/gu;
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const escaped = s.replace(NOT_PRINTABLE, (c) => {
    if (c === ' ') return c;
    const short = SHORT_ESCAPES[c];
    if (short) return short;
    const code = c.codePointAt(0) ?? 0;
    const [prefix, width] = code < 0x100 ? ['\\x', 2] : code < 0x10000 ? ['\\u', 4] : ['\\U', 8];
    return prefix + code.toString(16).padStart(width, '0');
  });
  return quote + (quote === "'" ? escaped.replaceAll("'", "\\'") : escaped) + quote;
}

export function pyRepr(value: Value): string {
  switch (value.type) {
    case 'StringValue':
      return reprString(value.value as string);
    case 'UndefinedValue':
      return 'Undefined';
    case 'ArrayValue':
      return `[${itemsOf(value).map(pyRepr).join(', ')}]`;
    case 'TupleValue': {
      const items = itemsOf(value).map(pyRepr);
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
    }
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
    case 'NamespaceValue': {
      const pairs = [...entriesOf(value).entries()].map(([key, item]) => `${reprString(key)}: ${pyRepr(item)}`);
      return value.type === 'NamespaceValue' ? `<Namespace {${pairs.join(', ')}}>` : `{${pairs.join(', ')}}`;
    }
    case 'FunctionValue':
      return '<function>';
    default:
      return pyStr(value);
  }
}

/** What `{{ value }}` prints: Python's str(), with an undefined value printing nothing. */
export function pyStr(value: Value): string {
  switch (value.type) {
    case 'StringValue':
      return value.value as string;
    case 'NullValue':
      return 'None';
    case 'UndefinedValue':
      return '';
    case 'BooleanValue':
      return value.value ? 'True' : 'False';
    case 'IntegerValue':
      return formatInt(value.value as number | bigint);
    case 'FloatValue':
      return formatFloat(value.value as number);
    default:
      return pyRepr(value);
  }
}

/** Python's `==`: numbers across int, float and bool; lists, tuples and dicts by content. */
export function pyEquals(a: Value, b: Value): boolean {
  if (isNumeric(a) && isNumeric(b)) {
    const [x, y] = [Number(a.value), Number(b.value)];
    if (typeof a.value !== 'bigint' && typeof b.value !== 'bigint') return x === y;
    return Number.isInteger(x) && Number.isInteger(y) && BigInt(a.value as bigint) === BigInt(b.value as bigint);
  }
  if (isList(a) && isList(b)) {
    const [x, y] = [itemsOf(a), itemsOf(b)];
    return a.type === b.type && x.length === y.length && x.every((item, i) => pyEquals(item, y[i] as Value));
  }
  if (isDict(a) && isDict(b)) {
    const [x, y] = [entriesOf(a), entriesOf(b)];
    return (
      x.size === y.size && [...x.entries()].every(([key, item]) => y.has(key) && pyEquals(item, y.get(key) as Value))
    );
  }
  if (a.type !== b.type) return false;
  return a.type === 'NullValue' || a.type === 'UndefinedValue' || a.value === b.value;
}
