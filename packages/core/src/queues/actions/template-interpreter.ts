import { FILTERS, iterate, type Kwargs, LIBRARY_FILTERS, MAX_OUTPUT_CHARS, MAX_RANGE } from './template-filters.ts';
import { compareCodePoints, formatPercent } from './template-python.ts';
import {
  bool,
  dict,
  Environment,
  entriesOf,
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
  pyEquals,
  pyStr,
  type Scope,
  str,
  TemplateError,
  toRuntime,
  type Value,
} from './template-values.ts';

/**
 * Runs a parsed template the way Jinja2 would: @huggingface/jinja's interpreter, subclassed to
 * print, compare and filter as Python does and to bound what one render may spend. What must print
 * or iterate the Python way is marked on the parsed tree once, when the template is compiled.
 */

/**
 * What one render may spend: an expression evaluated or a list item built is a step, a loop
 * iteration ITERATION_STEPS. A webhook template takes tens to thousands; this many take under a
 * second at worst, so a runaway loop ends instead of holding a worker.
 */
export const MAX_STEPS = 500_000;
/** A loop iteration costs the library several times what an expression does (a scope and a `loop` object). */
const ITERATION_STEPS = 5;
const MAX_DEPTH = 300;
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
  if (itemsOf(sequence).length * n > MAX_STEPS)
    throw new TemplateError(`Template built a list longer than ${MAX_STEPS} items`);
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
  /** Lists already paid for: a list read again (a body's array, a variable) costs nothing more. */
  readonly #paid = new WeakSet<object>();

  override evaluate(statement: Node | undefined, environment: Scope): Value {
    if (!statement) return super.evaluate(statement, environment);
    this.#spend(1);
    if (++this.#depth > MAX_DEPTH) throw new TemplateError('Template nests too deeply (a recursive macro?)');
    try {
      let value = this.#evaluateNode(statement as NodeShape, environment);
      const unpacks = iterables.get(statement);
      if (unpacks !== undefined) {
        // Iterations are paid here (the library runs an empty body without evaluating anything).
        const items = iterate(value);
        this.#spend(items.length * ITERATION_STEPS);
        value = list(unpacks ? items.map((item) => (isList(item) ? list(itemsOf(item)) : item)) : items);
        this.#paid.add(value);
      }
      if (printed.has(statement)) value = str(pyStr(value));
      return this.#charge(value);
    } finally {
      this.#depth--;
    }
  }

  #spend(steps: number): void {
    this.#steps += steps;
    if (this.#steps > MAX_STEPS) throw new TemplateError(`Template stopped after ${MAX_STEPS} steps (a runaway loop?)`);
  }

  /** Bounds what a render builds: a new list costs a step per item; strings count their characters. */
  #charge(value: Value): Value {
    if (value.type === 'StringValue') {
      const length = (value.value as string).length;
      this.#built += length;
      if (length > MAX_OUTPUT_CHARS || this.#built > MAX_BUILT_CHARS) {
        throw new TemplateError(`Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`);
      }
    } else if (isList(value) && !this.#paid.has(value)) {
      this.#paid.add(value);
      this.#spend(itemsOf(value).length);
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
    const own = FILTERS.get(name);
    if (own)
      return this.#charge(
        own(operand, args, kwargs, (value, next, a, k) => this.#apply(value, next, a, k, environment)),
      );
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

/** Nodes that print nothing of their own; every other node in a block prints its value. */
const STATEMENTS = new Set('Set If For Macro CallStatement Break Continue Comment FilterStatement'.split(' '));
/** The tests @huggingface/jinja implements that take no argument; Jinja2's others are refused when compiled. */
const TESTS = new Set(
  'boolean callable odd even false true none string number integer iterable mapping sequence lower upper defined undefined'.split(
    ' ',
  ),
);

/** Marks what must print or iterate the Python way, and refuses filters and tests that do not exist (as Jinja2 does). */
export function prepareProgram(node: unknown, problems: string[]): void {
  if (Array.isArray(node) || node instanceof Map) {
    for (const item of node instanceof Map ? [...node].flat() : node) prepareProgram(item, problems);
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
    else if (!FILTERS.has(name) && !LIBRARY_FILTERS.has(name)) problems.push(`no filter named '${name}'`);
  }
  if (fields.type === 'TestExpression') {
    const test = (fields.test as NodeShape).value as string;
    if (!TESTS.has(test)) problems.push(`no test named '${test}'`);
  }
  for (const value of Object.values(fields)) prepareProgram(value, problems);
}

/** Python's range(), refused past MAX_RANGE items before anything is allocated. */
function range(args: Value[]): Value {
  const numbers = args.map((arg) => {
    if (arg.type !== 'IntegerValue' && arg.type !== 'BooleanValue') throw new TemplateError('range() takes integers');
    return Number(arg.value);
  });
  if (numbers.length < 1 || numbers.length > 3) throw new TemplateError('range() takes 1 to 3 integers');
  const [start, stop, step] =
    numbers.length === 1 ? [0, numbers[0] ?? 0, 1] : [numbers[0] ?? 0, numbers[1] ?? 0, numbers[2] ?? 1];
  if (step === 0) throw new TemplateError('range() step must not be zero');
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (count > MAX_RANGE) throw new TemplateError(`range() is limited to ${MAX_RANGE} items, not ${count}`);
  return list(Array.from({ length: count }, (_, i) => int(start + i * step)));
}

/** Jinja2's `dict(a=1)` global. */
function makeDict(args: Value[]): Value {
  const named = args.find((arg) => arg.type === 'KeywordArgumentsValue');
  if (args.length > (named ? 1 : 0)) throw new TemplateError('dict() takes keyword arguments only');
  return dict(new Map(named ? entriesOf(named) : []));
}

/** The library's type names in its messages, as a template's author knows them. */
const PYTHON_TYPES: Readonly<Record<string, string>> = Object.assign(Object.create(null), {
  Undefined: 'an undefined value',
  Null: 'None',
  String: 'str',
  Integer: 'int',
  Float: 'float',
  Boolean: 'bool',
  Array: 'list',
  Tuple: 'tuple',
  Object: 'dict',
  Function: 'function',
});

function toTemplateError(error: unknown): TemplateError {
  if (error instanceof TemplateError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof RangeError) {
    return new TemplateError(
      /call stack/i.test(message)
        ? 'Template nests too deeply (a recursive macro?)'
        : `Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`,
    );
  }
  return new TemplateError(
    `Template failed: ${message.replace(/\b([A-Z]\w*)Value\b/g, (name, kind: string) => PYTHON_TYPES[kind] ?? name)}`,
  );
}

/** Renders a program that prepareProgram has marked; throws TemplateError. */
export function runProgram(program: Program, scope: Record<string, unknown>): string {
  const environment = new Environment();
  environment.setVariable('range', func(range));
  environment.setVariable('dict', func(makeDict));
  for (const [name, value] of Object.entries(scope)) environment.setVariable(name, toRuntime(value));
  // Jinja2's literals, which a scope cannot shadow.
  for (const name of ['true', 'True']) environment.setVariable(name, bool(true));
  for (const name of ['false', 'False']) environment.setVariable(name, bool(false));
  for (const name of ['none', 'None']) environment.setVariable(name, none());
  try {
    return new PythonInterpreter(environment).run(program).value as string;
  } catch (error) {
    throw toTemplateError(error);
  }
}
