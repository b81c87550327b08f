import { LRUCache } from 'lru-cache';
import { fail, ok, type Result } from '../../shared/result.ts';
import {
  FILTERS,
  iterate,
  type Kwargs,
  LIBRARY_FILTERS,
  MAX_OUTPUT_CHARS,
  makeDict,
  range,
} from './template-builtins.ts';
import { compareCodePoints, formatPercent } from './template-python.ts';
import {
  bool,
  Environment,
  float,
  func,
  Interpreter,
  int,
  isList,
  isNumeric,
  itemsOf,
  list,
  type Node,
  none,
  type Program,
  parse,
  pyEquals,
  pyStr,
  type Scope,
  str,
  TemplateError,
  type Token,
  tokenize,
  toRuntime,
  type Value,
} from './template-values.ts';

/**
 * Action templates in webhook-proxy's dialect: Jinja2 with its default settings (no trim_blocks,
 * no lstrip_blocks, one trailing newline dropped) and values printed as Python prints them, so a
 * file written for webhook-proxy renders the same text here.
 *
 * @huggingface/jinja parses and runs them. Its `Template` forces trim_blocks and prints values the
 * JavaScript way, so its lexer, parser and interpreter are driven directly, the interpreter
 * subclassed to print, compare and filter as Python does and to bound what one render may spend.
 *
 * Known differences from Jinja2, on templates rare in webhook files: an attribute of an undefined
 * value renders empty instead of raising; `'%s' % x`, `{% raw %}`, `{% include %}`, tests with
 * arguments (`divisibleby(3)`), escapes Python keeps as written (`'\d'`) and filters outside
 * FILTERS and LIBRARY_FILTERS are refused; `+` joins a string and a number instead of raising; a
 * `{% set %}` in a loop body carries over to the next iteration.
 */

export { MAX_OUTPUT_CHARS, MAX_RANGE } from './template-builtins.ts';
export { TemplateError, TemplateFloat, type TemplateFunction, TemplateMapping } from './template-values.ts';

export interface Template {
  readonly source: string;
  /** Throws TemplateError. */
  render(scope: Record<string, unknown>): string;
}

/** Expressions evaluated in one render: stops runaway loops long before they hold the process. */
export const MAX_STEPS = 1_000_000;
const MAX_DEPTH = 300;
const MAX_ITEMS = 1_000_000;
const MAX_SOURCE_CHARS = 256 * 1024;
/** Characters built over a whole render, intermediate strings included: this bounds their memory. */
const MAX_BUILT_CHARS = 32 * MAX_OUTPUT_CHARS;

interface NodeShape extends Node {
  value?: unknown;
  operator?: { value: string };
  left?: Node;
  right?: Node;
  operand?: Node;
  filter?: NodeShape;
  callee?: NodeShape;
  args?: NodeShape[];
  key?: NodeShape;
  body?: Node[];
}

/** Block-level expressions: printed the Python way. */
const printed = new WeakSet<object>();
/**
 * A `for` loop's iterable: Python walks strings and undefined values too. True when the loop
 * unpacks (`for k, v in ...`), which the library does for lists only, not for tuples.
 */
const iterables = new WeakMap<object, boolean>();

const valueNode = (value: Value): NodeShape => ({ type: 'SbValue', value });
const COMPARE: Record<string, (order: number) => boolean> = {
  '<': (order) => order < 0,
  '>': (order) => order > 0,
  '<=': (order) => order <= 0,
  '>=': (order) => order >= 0,
};
const BINARY = new Set(['~', '==', '!=', '*', '/', '//', '%', ...Object.keys(COMPARE)]);

/** `'-' * 20` and `[x] * 3`, refused before anything is built when too large. */
function repeat(sequence: Value, times: Value): Value | undefined {
  if (times.type !== 'IntegerValue' && times.type !== 'BooleanValue') return undefined;
  const n = Math.max(0, Number(times.value));
  if (sequence.type === 'StringValue') {
    if ((sequence.value as string).length * n > MAX_OUTPUT_CHARS) {
      throw new TemplateError(`Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`);
    }
    return str((sequence.value as string).repeat(n));
  }
  if (itemsOf(sequence).length * n > MAX_ITEMS)
    throw new TemplateError(`Template built a list longer than ${MAX_ITEMS} items`);
  return list(Array.from({ length: n }, () => itemsOf(sequence)).flat());
}

/** Operators Python evaluates differently from @huggingface/jinja; undefined leaves one to it. */
function evaluatePython(operator: string, left: Value, right: Value): Value | undefined {
  if (operator === '~') return str(pyStr(left) + pyStr(right));
  if (operator === '==' || operator === '!=') return bool(pyEquals(left, right) === (operator === '=='));
  if (operator === '*') {
    const [sequence, times] = left.type === 'StringValue' || isList(left) ? [left, right] : [right, left];
    return sequence.type === 'StringValue' || isList(sequence) ? repeat(sequence, times) : undefined;
  }
  if (operator === '%' && left.type === 'StringValue') return str(formatPercent(left.value as string, right));
  if (isNumeric(left) && isNumeric(right) && ['/', '//', '%'].includes(operator)) {
    const [a, b] = [Number(left.value), Number(right.value)];
    if (b === 0) throw new TemplateError('division by zero');
    if (operator !== '%') return undefined;
    const rest = ((a % b) + b) % b;
    return left.type === 'FloatValue' || right.type === 'FloatValue' ? float(rest) : int(rest);
  }
  const compare = COMPARE[operator];
  if (compare && left.type === 'StringValue' && right.type === 'StringValue') {
    return bool(compare(compareCodePoints(left.value as string, right.value as string)));
  }
  return undefined;
}

class PythonInterpreter extends Interpreter {
  #steps = 0;
  #depth = 0;
  #built = 0;

  override evaluate(statement: Node | undefined, environment: Scope): Value {
    if (!statement) return super.evaluate(statement, environment);
    if (++this.#steps > MAX_STEPS)
      throw new TemplateError(`Template stopped after ${MAX_STEPS} steps (a runaway loop?)`);
    if (++this.#depth > MAX_DEPTH) throw new TemplateError('Template nests too deeply (a recursive macro?)');
    try {
      let value = this.#evaluateNode(statement as NodeShape, environment);
      const unpacks = iterables.get(statement);
      if (unpacks !== undefined)
        value = list(iterate(value).map((item) => (unpacks && isList(item) ? list(itemsOf(item)) : item)));
      if (printed.has(statement)) value = str(pyStr(value));
      return this.#charge(value);
    } finally {
      this.#depth--;
    }
  }

  #charge(value: Value): Value {
    if (value.type === 'StringValue') {
      const length = (value.value as string).length;
      this.#built += length;
      if (length > MAX_OUTPUT_CHARS || this.#built > MAX_BUILT_CHARS) {
        throw new TemplateError(`Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`);
      }
    } else if (isList(value) && itemsOf(value).length > MAX_ITEMS) {
      throw new TemplateError(`Template built a list longer than ${MAX_ITEMS} items`);
    }
    return value;
  }

  #evaluateNode(node: NodeShape, environment: Scope): Value {
    switch (node.type) {
      case 'SbValue':
        return node.value as Value;
      case 'FilterExpression':
        return this.#filter(this.evaluate(node.operand, environment), node.filter as NodeShape, environment);
      case 'FilterStatement': {
        const body = this.evaluate({ type: 'Program', body: node.body } as Program, environment);
        return this.#filter(body, node.filter as NodeShape, environment);
      }
      case 'BinaryExpression': {
        const operator = node.operator?.value ?? '';
        if (!BINARY.has(operator)) break;
        const left = this.evaluate(node.left, environment);
        const right = this.evaluate(node.right, environment);
        // What Python does not do differently runs as the library has it, on the values already evaluated.
        const evaluated = { ...node, left: valueNode(left), right: valueNode(right) };
        return evaluatePython(operator, left, right) ?? super.evaluate(evaluated, environment);
      }
    }
    return super.evaluate(node, environment);
  }

  #filter(operand: Value, filter: NodeShape, environment: Scope): Value {
    const args: Value[] = [];
    const kwargs: Kwargs = new Map();
    for (const arg of filter.type === 'CallExpression' ? (filter.args ?? []) : []) {
      if (arg.type === 'KeywordArgumentExpression') {
        kwargs.set(arg.key?.value as string, this.evaluate(arg.value as Node, environment));
      } else if (arg.type === 'SpreadExpression' || arg.type === 'KeywordSpreadExpression') {
        throw new TemplateError('Filters do not take * or ** arguments');
      } else args.push(this.evaluate(arg, environment));
    }
    const name = (filter.type === 'Identifier' ? filter.value : filter.callee?.value) as string;
    return this.#apply(operand, name, args, kwargs, environment);
  }

  #apply(operand: Value, name: string, args: Value[], kwargs: Kwargs, environment: Scope): Value {
    const own = FILTERS[name];
    if (own) return own(operand, args, kwargs, (value, next, a, k) => this.#apply(value, next, a, k, environment));
    if (!LIBRARY_FILTERS.has(name)) throw new TemplateError(`No filter named '${name}'`);
    const named = [...kwargs].map(([key, value]) => ({
      type: 'KeywordArgumentExpression',
      key: { type: 'Identifier', value: key },
      value: valueNode(value),
    }));
    // `selectattr` reads its arguments' node types: a string goes in as the literal it could have been written as.
    const literal = (value: Value) =>
      value.type === 'StringValue' ? { type: 'StringLiteral', value: value.value } : valueNode(value);
    const callArgs = [...args.map(literal), ...named];
    const identifier = { type: 'Identifier', value: name };
    const filter = callArgs.length > 0 ? { type: 'CallExpression', callee: identifier, args: callArgs } : identifier;
    const expression: NodeShape = { type: 'FilterExpression', operand: valueNode(operand), filter };
    const result = super.evaluate(expression, environment);
    // `first` and `last` of an empty list come back as a bare `undefined` from the library.
    return result ?? toRuntime(undefined);
  }
}

const STATEMENTS = new Set([
  'Set',
  'If',
  'For',
  'Macro',
  'CallStatement',
  'Break',
  'Continue',
  'Comment',
  'FilterStatement',
]);
/** The tests @huggingface/jinja implements that take no argument. */
const TESTS = new Set(['boolean', 'callable', 'odd', 'even', 'false', 'true', 'none', 'string', 'number', 'integer']);
for (const name of ['iterable', 'mapping', 'sequence', 'lower', 'upper', 'defined', 'undefined']) TESTS.add(name);

/** Marks what must print or iterate the Python way, and refuses filters and tests that do not exist (as Jinja2 does). */
function prepare(node: unknown, problems: string[]): void {
  if (Array.isArray(node) || node instanceof Map) {
    for (const item of node instanceof Map ? [...node].flat() : node) prepare(item, problems);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const fields = node as Record<string, unknown> & { type?: string };
  for (const block of [fields.body, fields.alternate, fields.defaultBlock]) {
    if (!Array.isArray(block)) continue;
    for (const statement of block) if (!STATEMENTS.has(statement.type)) printed.add(statement);
  }
  if (fields.type === 'For') {
    const iterable = fields.iterable as { type: string; lhs: object };
    const unpacks = (fields.loopvar as Node).type === 'TupleLiteral';
    iterables.set(iterable.type === 'SelectExpression' ? iterable.lhs : iterable, unpacks);
  }
  if (fields.type === 'FilterExpression' || fields.type === 'FilterStatement') {
    const filter = fields.filter as NodeShape;
    const name =
      filter.type === 'Identifier' ? filter.value : filter.callee?.type === 'Identifier' ? filter.callee.value : null;
    if (typeof name !== 'string') problems.push('a filter must be a name, optionally with arguments');
    else if (!(name in FILTERS) && !LIBRARY_FILTERS.has(name)) problems.push(`no filter named '${name}'`);
  }
  if (fields.type === 'TestExpression') {
    const test = (fields.test as NodeShape).value as string;
    if (!TESTS.has(test)) problems.push(`no test named '${test}'`);
  }
  for (const value of Object.values(fields)) prepare(value, problems);
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The line of the first line-prefix of `text` that passes `test`; null when looking would cost too much. */
function findLine(text: string, test: (prefix: string) => boolean): number | null {
  const ends = [...text.matchAll(/\n/g)].map((match) => match.index).concat(text.length);
  if (ends.length * text.length > 20_000_000) return null;
  const index = ends.findIndex((end) => test(text.slice(0, end)));
  return index < 0 ? null : index + 1;
}

const onLine = (line: number | null) => (line === null ? '' : ` on line ${line}`);

function describeLexError(text: string, error: unknown): string {
  const problem = message(error);
  if (/end of (input|comment)/i.test(problem))
    return 'Template ends inside a string, comment or tag that is never closed';
  const line = findLine(text, (prefix) => {
    try {
      tokenize(prefix, {});
      return false;
    } catch (prefixError) {
      return message(prefixError) === problem;
    }
  });
  return `Template syntax error${onLine(line)}: ${problem}`;
}

const BLOCKS = new Set(['if', 'for', 'macro', 'call', 'filter', 'set']);

/** The innermost block tag left open: what a template that ends too early is missing. */
function findUnclosed(tokens: Token[]): { name: string; index: number } | undefined {
  const open: Array<{ name: string; index: number }> = [];
  tokens.forEach((token, index) => {
    const name = tokens[index + 1]?.value ?? '';
    if (token.type !== 'OpenStatement' || tokens[index + 1]?.type !== 'Identifier') return;
    const rest = tokens.slice(index + 2);
    const end = rest.findIndex((next) => next.type === 'CloseStatement');
    if (name === 'set' && rest.slice(0, end).some((next) => next.type === 'Equals')) return;
    if (BLOCKS.has(name)) open.push({ name, index });
    else if (open.at(-1)?.name === name.replace(/^end/, '')) open.pop();
  });
  return open.at(-1);
}

function describeParseError(text: string, tokens: Token[], lastRead: number, error: unknown): string {
  if (error instanceof RangeError) return 'Template nests too deeply';
  const lineOf = (index: number) =>
    findLine(text, (prefix) => {
      try {
        return tokenize(prefix, {}).length > index;
      } catch {
        return false;
      }
    });
  if (lastRead >= tokens.length || error instanceof TypeError) {
    const unclosed = findUnclosed(tokens);
    if (!unclosed) return 'Template syntax error: unexpected end of template';
    return `Template syntax error${onLine(lineOf(unclosed.index))}: {% ${unclosed.name} %} is never closed by {% end${unclosed.name} %}`;
  }
  return `Template syntax error${onLine(lineOf(lastRead))}: ${message(error)}`;
}

function compile(source: string): Result<Template> {
  if (source.length > MAX_SOURCE_CHARS)
    return fail('INVALID', `Template is longer than ${MAX_SOURCE_CHARS} characters`);
  // Jinja2 reads \r\n and \r as \n, in text and string literals alike.
  const text = source.replace(/\r\n?/g, '\n');
  let tokens: Token[];
  try {
    tokens = tokenize(text, {});
  } catch (error) {
    return fail('INVALID', describeLexError(text, error));
  }
  // The parser keeps no positions: the last token it read is where it stopped.
  let lastRead = -1;
  const watched = new Proxy(tokens, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) lastRead = Number(key);
      return Reflect.get(target, key, receiver);
    },
  });
  let program: Program;
  try {
    program = parse(watched);
  } catch (error) {
    return fail('INVALID', describeParseError(text, tokens, lastRead, error));
  }
  const problems: string[] = [];
  prepare(program, problems);
  if (problems.length > 0) return fail('INVALID', `Template is not valid: ${problems.join('; ')}`);
  return ok(new CompiledTemplate(source, program));
}

function toTemplateError(error: unknown): TemplateError {
  if (error instanceof TemplateError) return error;
  if (error instanceof RangeError) {
    return new TemplateError(
      /call stack/i.test(error.message)
        ? 'Template nests too deeply (a recursive macro?)'
        : `Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`,
    );
  }
  return new TemplateError(`Template failed: ${message(error)}`);
}

class CompiledTemplate implements Template {
  readonly #program: Program;
  constructor(
    readonly source: string,
    program: Program,
  ) {
    this.#program = program;
  }

  render(scope: Record<string, unknown>): string {
    const environment = new Environment();
    environment.setVariable('range', func(range));
    environment.setVariable('dict', func(makeDict));
    for (const [name, value] of Object.entries(scope)) environment.setVariable(name, toRuntime(value));
    for (const name of ['true', 'True']) environment.setVariable(name, bool(true));
    for (const name of ['false', 'False']) environment.setVariable(name, bool(false));
    for (const name of ['none', 'None']) environment.setVariable(name, none());
    try {
      return new PythonInterpreter(environment).run(this.#program).value as string;
    } catch (error) {
      throw toTemplateError(error);
    }
  }
}

/** Compiled templates (refusals too): the same few render for every message. */
const cache = new LRUCache<string, Result<Template>>({
  max: 2_000,
  maxSize: 16 * 1024 * 1024,
  sizeCalculation: (_result, source) => source.length + 1,
});

export function compileTemplate(source: string): Result<Template> {
  const cached = cache.get(source);
  if (cached) return cached;
  const compiled = compile(source);
  cache.set(source, compiled);
  return compiled;
}

/** Renders every string inside a YAML/JSON tree (objects, arrays) as a template; other values as they are. */
export function renderTree(tree: unknown, scope: Record<string, unknown>): unknown {
  if (typeof tree === 'string') {
    const template = compileTemplate(tree);
    if (!template.ok) throw new TemplateError(template.error.message);
    return template.value.render(scope);
  }
  if (Array.isArray(tree)) return tree.map((item) => renderTree(item, scope));
  const prototype = tree !== null && typeof tree === 'object' ? Object.getPrototypeOf(tree) : undefined;
  if (prototype !== Object.prototype && prototype !== null) return tree;
  return Object.fromEntries(Object.entries(tree as object).map(([key, value]) => [key, renderTree(value, scope)]));
}
