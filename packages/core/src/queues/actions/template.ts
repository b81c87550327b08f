import { LRUCache } from 'lru-cache';
import { fail, ok, type Result } from '../../shared/result.ts';
import { prepareProgram, runProgram } from './template-interpreter.ts';
import { type Program, parse, TemplateError, type Token, tokenize } from './template-values.ts';

/**
 * Action templates in webhook-proxy's dialect: Jinja2 with its default settings (no trim_blocks,
 * no lstrip_blocks, one trailing newline dropped) and values printed as Python prints them, so a
 * file written for webhook-proxy renders the same text here. @huggingface/jinja parses them; its
 * `Template` forces trim_blocks, so its lexer and parser are driven directly and the program runs
 * on the interpreter of template-interpreter.ts. Sandboxing is described in template-values.ts.
 *
 * Known differences from Jinja2, on templates rare in webhook files. Refused when compiled:
 * `{% raw %}`, `{% include %}` and template inheritance; tests with arguments (`divisibleby(3)`);
 * numbers written with an exponent (`1e3`); `()` and `(x,)`; escapes Python keeps as written
 * (`'\d'`); filters missing from template-filters.ts (`attr`, `batch`, `groupby`, `select`, ...).
 * Rendered where Jinja2 raises: an attribute of an undefined value (empty), a string `+` a number
 * (joined), `{% break %}` (Jinja2 needs an extension). Rendered differently: a `{% set %}` in a
 * loop body carries over to the next iteration; `request.json.items` is the body's `items` key,
 * not the dict method (a template that prints a method prints an address anyway).
 */

export { MAX_OUTPUT_CHARS, MAX_RANGE } from './template-filters.ts';
export { MAX_STEPS } from './template-interpreter.ts';
export { TemplateError, TemplateFloat, type TemplateFunction, TemplateMapping } from './template-values.ts';

const MAX_SOURCE_CHARS = 256 * 1024;

export interface Template {
  readonly source: string;
  /** Throws TemplateError. */
  render(scope: Record<string, unknown>): string;
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
  try {
    prepareProgram(program, problems);
  } catch {
    return fail('INVALID', 'Template nests too deeply');
  }
  if (problems.length > 0) return fail('INVALID', `Template is not valid: ${problems.join('; ')}`);
  return ok(new CompiledTemplate(source, program));
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
    return runProgram(this.#program, scope);
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
