import { parse as parseLosslessJson } from 'lossless-json';
import { TemplateError, TemplateFloat, type TemplateFunction, TemplateMapping } from './template.ts';

/**
 * What action templates can read: the names webhook-proxy documents (`request`, `timestamp`,
 * `datetime`, `own_container_id`, `read_config`, `error`, `context`), shaped as its Flask request
 * and helpers are, plus Switchboard's `message` and whatever the action adds (`result`,
 * `response`, `seconds`, `metric`).
 *
 * Everything outside the process's memory comes in through ScopeInput (environment variables,
 * files, the clock), so templates see only what the caller chose to hand over. Values in `extra`
 * should be plain data: of any other object, templates see its own enumerable fields only.
 *
 * Where the request differs from Flask's: `data` is text, not bytes; `json` is None for any body
 * that is not JSON (Flask 3 answers 415 when the content type is not JSON); a loop over `headers`
 * gives lower-case names, not (name, value) pairs; `url` is rebuilt from the Host header, the path
 * and the query.
 */

export interface RequestView {
  method: string;
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer;
  query: Record<string, string>;
  remoteAddress: string | null;
}

/** JSON-serialisable; persisted between retries by the caller. */
export interface ActionContext {
  values: Record<string, unknown>;
}

export interface ScopeInput {
  request: RequestView;
  message: { id: string; sequence: number; queue: string };
  context: ActionContext;
  env: Readonly<Record<string, string | undefined>>;
  /** The file's text, or null when there is no such file. */
  readFile: (path: string) => string | null;
  now: Date;
  /** Values an action adds, e.g. result, response, seconds, metric. */
  extra?: Record<string, unknown>;
}

export function createScope(input: ScopeInput): Record<string, unknown> {
  return {
    request: describeRequest(input.request),
    // time.time(): a float even on a whole second.
    timestamp: new TemplateFloat(input.now.getTime() / 1000),
    datetime: formatCtime(input.now),
    own_container_id: null,
    read_config: readConfig(input.env, input.readFile),
    error: raiseError,
    context: describeContext(input.context),
    message: { id: input.message.id, sequence: input.message.sequence, queue: input.message.queue },
    ...input.extra,
  };
}

/** The parts of a Flask request that webhook-proxy's templates use. */
function describeRequest(request: RequestView): Record<string, unknown> {
  const text = request.body.toString('utf8');
  const headers = new Map(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
  return {
    method: request.method,
    path: request.path,
    // Flask's headers: `headers['X-GitHub-Event']` and `headers.get('x-github-event')` alike.
    headers: new TemplateMapping(
      (name) => headers.get(name.toLowerCase()),
      () => [...headers.keys()],
    ),
    json: parseJson(text),
    data: text,
    body: text,
    args: { ...request.query },
    remote_addr: request.remoteAddress,
    url: describeUrl(request, headers),
  };
}

function describeUrl(request: RequestView, headers: Map<string, string>): string {
  const forwarded = headers.get('x-forwarded-proto')?.split(',')[0]?.trim();
  const scheme = forwarded === 'https' ? 'https' : 'http';
  const query = new URLSearchParams(request.query).toString();
  return `${scheme}://${headers.get('host') ?? 'localhost'}${request.path}${query ? `?${query}` : ''}`;
}

/**
 * The body as Python's json.loads reads it, or null when it is not JSON: a number written with a
 * fraction or an exponent stays a float (`1.0` prints `1.0`), a 64-bit id keeps every digit, and
 * of duplicate keys the last wins.
 */
function parseJson(text: string): unknown {
  try {
    // Only a float literal or a long integer needs the slower parser: JSON.parse reads the rest the same.
    if (!/\d[.eE]|\d{16}/.test(text)) return JSON.parse(text);
    return parseLosslessJson(text, null, { parseNumber: readNumber, onDuplicateKey: ({ newValue }) => newValue });
  } catch {
    return null;
  }
}

/** Python's json numbers: `1.0` a float, an integer exact at any size. */
function readNumber(literal: string): unknown {
  if (/[.eE]/.test(literal)) return new TemplateFloat(Number(literal));
  const n = Number(literal);
  return Number.isSafeInteger(n) ? n : BigInt(literal);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Python's time.ctime(), in UTC (a container's usual local time): `Wed Dec  2 01:10:00 2026`. */
export function formatCtime(date: Date): string {
  const time = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map((n) => String(n).padStart(2, '0'));
  const day = String(date.getUTCDate()).padStart(2, ' ');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${day} ${time.join(':')} ${date.getUTCFullYear()}`;
}

/** Python's truthiness for plain values. */
function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

/** Binds a call as Python binds `def f(a, b=None, ...)`: by position, else by name. */
const argument = (args: unknown[], kwargs: Record<string, unknown>, index: number, name: string): unknown =>
  index < args.length ? args[index] : Object.hasOwn(kwargs, name) ? kwargs[name] : undefined;

/**
 * docker_helper's read_configuration(key, path=None, default=None, single_config=False,
 * fallback_to_env=True): the `KEY=value` line of the file at `path` (or the whole file with
 * single_config), else the environment variable `key`, else the default.
 */
function readConfig(env: ScopeInput['env'], readFile: ScopeInput['readFile']): TemplateFunction {
  return (args, kwargs) => {
    const key = argument(args, kwargs, 0, 'key');
    if (typeof key !== 'string' || key === '') throw new TemplateError('read_config() needs the name of a setting');
    const path = argument(args, kwargs, 1, 'path');
    if (typeof path === 'string' && path !== '') {
      let content: string | null;
      try {
        content = readFile(path);
      } catch (error) {
        throw new TemplateError(`read_config() could not read ${path}: ${(error as Error).message}`);
      }
      if (content !== null) {
        if (isTruthy(argument(args, kwargs, 3, 'single_config'))) return content;
        const line = content.split(/\r\n|\n|\r/).find((candidate) => candidate.startsWith(`${key}=`));
        if (line !== undefined) return line.slice(key.length + 1).trim();
      }
    }
    const fromEnv = argument(args, kwargs, 4, 'fallback_to_env');
    if ((fromEnv === undefined || isTruthy(fromEnv)) && Object.hasOwn(env, key) && env[key] !== undefined)
      return env[key];
    return argument(args, kwargs, 2, 'default') ?? null;
  };
}

/** webhook-proxy's error(message=''): fails the action with the message. */
const raiseError: TemplateFunction = (args, kwargs) => {
  const message = argument(args, kwargs, 0, 'message');
  if (!isTruthy(message)) throw new TemplateError('The template called error() without a message');
  throw new TemplateError(typeof message === 'string' ? message : JSON.stringify(message));
};

/**
 * webhook-proxy's `context`: `context.name` reads what an earlier template set (undefined when
 * nothing was), `context.set(name, value)` stores and prints None. Values are kept as JSON data.
 */
function describeContext(context: ActionContext): TemplateMapping {
  const set: TemplateFunction = (args, kwargs) => {
    const name = argument(args, kwargs, 0, 'name');
    if (typeof name !== 'string' || (args.length < 2 && !Object.hasOwn(kwargs, 'value'))) {
      throw new TemplateError('context.set() needs a name and a value');
    }
    const value = argument(args, kwargs, 1, 'value');
    // An undefined value reads back as undefined: keeping nothing does that and stays JSON.
    if (value === undefined) Reflect.deleteProperty(context.values, name);
    // Defined, not assigned: a name such as `__proto__` must stay an ordinary key.
    else Object.defineProperty(context.values, name, { value, enumerable: true, writable: true, configurable: true });
    return null;
  };
  return new TemplateMapping(
    (name) => (name === 'set' ? set : Object.getOwnPropertyDescriptor(context.values, name)?.value),
    () => Object.keys(context.values),
  );
}
