import type { z } from 'zod';
import { compileAllowlist } from '../../shared/network.ts';
import { fail, ok, type Result } from '../../shared/result.ts';
import { describeUnknownKey } from '../../shared/unknown-keys.ts';
import { formatPythonStr, MAX_TESTED_LENGTH, preparePattern, type RulePattern } from './python-match.ts';
import { type BodyRules, isPlainObject, RULE_KEYS, type RulesDefinition, rulesSchema } from './rule-definition.ts';

/**
 * Inbound rules, compiled once per queue and checked on every webhook it receives. `headers` and
 * `body` behave as webhook-proxy's endpoint validators (its src/endpoints.py): a pattern must match
 * from the start of the value (Python's `re.match`), a missing header or field is "" (a missing
 * field under a mapping rule is {}), a list field is checked item by item (an empty list passes),
 * and a value that is not a string is first printed as Python's `str()` would print it.
 *
 * Unlike newer webhook-proxy releases, neither rules nor values are rendered as templates: rendering
 * what a sender put in a header or field would let any sender run template code on this server.
 */
export interface RuleInput {
  method: string;
  /** Header values by lower-case name. */
  headers: Record<string, string>;
  /** The parsed body, or undefined when the body is not JSON. */
  json: unknown;
  sourceIp: string | undefined;
}

export interface RuleFailure {
  /** Path of the rule that failed: `method`, `source`, `headers.X-Sender`, `any[1].body.project.name`. */
  rule: string;
  /** What was checked: `X-Sender header`, `project.items[0].name`, `method`, `sender address`. */
  field: string;
  /** A sentence for the queue's owner, with values cut short. */
  message: string;
}

export interface CompiledRules {
  /** Whether any rule looks into the body, which must then be parsed as JSON. */
  readonly needsJson: boolean;
  /** The methods the top-level rule allows, upper-case; null when it does not restrict them. */
  readonly methods: string[] | null;
  /** The first rule the message breaks, or null when the message is accepted. */
  check(input: RuleInput): RuleFailure | null;
}

/** Patterns (header and body rules) in one queue's rules, at most. */
export const MAX_RULE_PATTERNS = 500;
/** Rules, header rules and body fields together, at most: bounds the walk of every message. */
export const MAX_RULE_PARTS = 2_000;
/** List items a message may make the body rules visit. */
export const MAX_LIST_ITEMS = 10_000;
/**
 * Work one message may cost: each test is charged its pattern's size times the characters read,
 * what it costs at worst. About a second of one core at the costliest (patterns that keep hundreds
 * of NFA threads alive, measured on re2js); ordinary patterns cost a small fraction of their charge.
 */
export const MAX_CHECK_WORK = 32_000_000;
const SHOWN_LENGTH = 200;

type Failure = RuleFailure & { limit?: true };
type BodyNode = { kind: 'pattern'; pattern: RulePattern } | BodyMapping;
type BodyMapping = { kind: 'mapping'; fields: Array<{ key: string; node: BodyNode }> };

interface RuleNode {
  path: string;
  methods: string[] | null;
  source: { allows: (address: string | undefined) => boolean; listed: string[] } | null;
  headers: Array<{ name: string; key: string; pattern: RulePattern }>;
  body: BodyMapping | null;
  all: RuleNode[];
  any: RuleNode[];
  not: RuleNode | null;
}

interface Run {
  input: RuleInput;
  itemsLeft: number;
  workLeft: number;
}

type Problem = { path: string; message: string };

/** Checks rules whole (shape, limits, every pattern) and compiles them, or says what is wrong where. */
export function compileRules(definition: RulesDefinition): Result<CompiledRules> {
  const parsed = rulesSchema.safeParse(definition);
  if (!parsed.success) return invalid(parsed.error.issues.flatMap((issue) => toProblems(issue, [])));
  const state = { problems: [] as Problem[], patterns: 0, parts: 0 };
  const root = compileRule(parsed.data, '', state);
  if (state.patterns > MAX_RULE_PATTERNS) {
    state.problems.push({
      path: '(root)',
      message: `holds ${state.patterns} patterns; at most ${MAX_RULE_PATTERNS} are allowed`,
    });
  }
  if (state.parts > MAX_RULE_PARTS) {
    state.problems.push({
      path: '(root)',
      message: `holds ${state.parts} rules, header rules and body fields; at most ${MAX_RULE_PARTS} are allowed`,
    });
  }
  if (state.problems.length > 0) return invalid(state.problems);
  return ok({
    needsJson: readsBody(root),
    methods: root.methods,
    check(input) {
      const failure = checkRule(root, { input, itemsLeft: MAX_LIST_ITEMS, workLeft: MAX_CHECK_WORK });
      return failure && { rule: failure.rule, field: failure.field, message: failure.message };
    },
  });
}

function invalid(problems: Problem[]): Result<CompiledRules> {
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  const summary = first ? `: ${first.path} ${first.message}${more}` : '';
  return fail('INVALID', `The rules cannot be used${summary}`, { fields: problems });
}

function compileRule(
  rule: RulesDefinition,
  path: string,
  state: { problems: Problem[]; patterns: number; parts: number },
): RuleNode {
  const at = (key: string) => (path ? `${path}.${key}` : key);
  state.parts++;
  const compilePattern = (source: string, where: string): RulePattern => {
    state.patterns++;
    state.parts++;
    const prepared = preparePattern(source);
    if (prepared.ok) return prepared.pattern;
    state.problems.push({ path: where, message: prepared.message });
    return { source, size: 0, test: () => false };
  };
  const compileBody = (rules: BodyRules, where: string): BodyMapping => ({
    kind: 'mapping',
    fields: Object.entries(rules).map(([key, value]) => {
      const here = `${where}.${key}`;
      if (typeof value === 'string') return { key, node: { kind: 'pattern', pattern: compilePattern(value, here) } };
      state.parts++;
      return { key, node: compileBody(value, here) };
    }),
  });
  const listed = rule.source === undefined ? null : [rule.source].flat();
  const body = rule.body ? compileBody(rule.body, at('body')) : null;
  return {
    path,
    methods: rule.method === undefined ? null : [rule.method].flat().map((m) => m.toUpperCase()),
    source: listed && { allows: compileAllowlist(listed), listed },
    headers: Object.entries(rule.headers ?? {}).map(([name, source]) => ({
      name,
      key: name.toLowerCase(),
      pattern: compilePattern(source, at(`headers.${name}`)),
    })),
    // An empty `body` checks nothing, as in webhook-proxy, and so does not need a JSON body.
    body: body && body.fields.length > 0 ? body : null,
    all: (rule.all ?? []).map((child, i) => compileRule(child, `${at('all')}[${i}]`, state)),
    any: (rule.any ?? []).map((child, i) => compileRule(child, `${at('any')}[${i}]`, state)),
    not: rule.not ? compileRule(rule.not, at('not'), state) : null,
  };
}

function readsBody(node: RuleNode): boolean {
  return node.body !== null || [...node.all, ...node.any, ...(node.not ? [node.not] : [])].some(readsBody);
}

function checkRule(node: RuleNode, run: Run): Failure | null {
  const at = (key: string) => (node.path ? `${node.path}.${key}` : key);
  const { input } = run;
  if (node.methods && !node.methods.includes(input.method.toUpperCase())) {
    const message = `method ${quote(input.method)} is not allowed: expected ${node.methods.join(' or ')}`;
    return { rule: at('method'), field: 'method', message };
  }
  if (node.source && !node.source.allows(input.sourceIp)) {
    const allowed = listShort(node.source.listed);
    const message = input.sourceIp
      ? `sender address ${quote(input.sourceIp)} is not in ${allowed}`
      : `the sender's address is unknown, and only ${allowed} may send`;
    return { rule: at('source'), field: 'sender address', message };
  }
  for (const { name, key, pattern } of node.headers) {
    const present = Object.hasOwn(input.headers, key);
    const value = present ? String(input.headers[key]) : '';
    const failure = testPattern(pattern, value, !present, run, {
      rule: at(`headers.${name}`),
      field: `${name} header`,
      subject: `header ${quote(name)}`,
    });
    if (failure) return failure;
  }
  if (node.body) {
    const failure = checkBody(node.body, at('body'), run);
    if (failure) return failure;
  }
  for (const child of node.all) {
    const failure = checkRule(child, run);
    if (failure) return failure;
  }
  if (node.any.length > 0) {
    let first: Failure | null = null;
    for (const child of node.any) {
      const failure = checkRule(child, run);
      if (!failure) return checkNot(node, run, at);
      // A message too costly to check is refused, whatever the other branches say.
      if (failure.limit) return failure;
      first ??= failure;
    }
    if (first) {
      const message = `none of the ${node.any.length} rules of ${quote(at('any'))} holds; the first fails: ${first.message}`;
      return { ...first, message };
    }
  }
  return checkNot(node, run, at);
}

function checkNot(node: RuleNode, run: Run, at: (key: string) => string): Failure | null {
  if (!node.not) return null;
  const failure = checkRule(node.not, run);
  // Not turned into a pass: a message too costly to check must not be let through by `not`.
  if (failure) return failure.limit ? failure : null;
  return { rule: at('not'), field: 'message', message: `the message matches the rule under ${quote(at('not'))}` };
}

function checkBody(rules: BodyMapping, rule: string, run: Run): Failure | null {
  const { json } = run.input;
  if (isPlainObject(json)) return checkFields(rules, json, false, '', rule, run);
  const found = json === undefined ? 'not JSON' : `${describeJson(json)}, not a JSON object`;
  return { rule, field: 'body', message: `the body is ${found}, so its fields cannot be checked` };
}

function checkFields(
  rules: BodyMapping,
  data: Record<string, unknown>,
  missing: boolean,
  path: string,
  rule: string,
  run: Run,
): Failure | null {
  for (const { key, node } of rules.fields) {
    const present = Object.hasOwn(data, key);
    const value = present ? data[key] : node.kind === 'mapping' ? {} : '';
    const field = path ? `${path}.${key}` : key;
    const here = `${rule}.${key}`;
    if (!Array.isArray(value)) {
      const failure = checkValue(node, value, missing || !present, field, here, run);
      if (failure) return failure;
      continue;
    }
    for (const [i, item] of value.entries()) {
      if (--run.itemsLeft < 0) {
        const message = `body field ${quote(field)} has more list items than can be checked (${MAX_LIST_ITEMS} in one message)`;
        return { rule: here, field, message, limit: true };
      }
      const failure = checkValue(node, item, false, `${field}[${i}]`, here, run);
      if (failure) return failure;
    }
  }
  return null;
}

function checkValue(
  node: BodyNode,
  value: unknown,
  missing: boolean,
  field: string,
  rule: string,
  run: Run,
): Failure | null {
  if (node.kind === 'pattern') {
    return testPattern(node.pattern, formatPythonStr(value), missing, run, {
      rule,
      field,
      subject: `body field ${quote(field)}`,
    });
  }
  if (isPlainObject(value)) return checkFields(node, value, missing, field, rule, run);
  const keys = node.fields.map((f) => f.key);
  const wanted = keys.length > 0 ? ` with ${listShort(keys)}` : '';
  const message = `body field ${quote(field)} is ${describeJson(value)}, but its rules expect an object${wanted}`;
  return { rule, field, message };
}

function testPattern(
  pattern: RulePattern,
  value: string,
  missing: boolean,
  run: Run,
  where: { rule: string; field: string; subject: string },
): Failure | null {
  const { rule, field, subject } = where;
  // What lies past this is not read: a pattern that needs the end of a longer value does not match.
  const tested = value.length > MAX_TESTED_LENGTH ? value.slice(0, MAX_TESTED_LENGTH) : value;
  run.workLeft -= (tested.length + 1) * pattern.size;
  if (run.workLeft < 0) {
    const message = `checking ${subject} would cost more than one message may: its values are too many or too long for these rules`;
    return { rule, field, message, limit: true };
  }
  if (pattern.test(tested)) return null;
  const mismatch = `${quote(value)} does not match ${quote(pattern.source)}`;
  return { rule, field, message: missing ? `${subject} is missing (${mismatch})` : `${subject}: ${mismatch}` };
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${quote(String(value))}`;
}

function listShort(items: string[]): string {
  const shown = items.slice(0, 5).join(', ');
  return items.length > 5 ? `${shown} and ${items.length - 5} more` : shown;
}

/** A value for a message: quoted, control characters escaped, cut at SHOWN_LENGTH characters. */
export function quote(value: string): string {
  let shown = value.slice(0, SHOWN_LENGTH);
  // Never end on half of a surrogate pair.
  if (shown.length === SHOWN_LENGTH && /[\uD800-\uDBFF]$/.test(shown)) shown = shown.slice(0, -1);
  // Backslashes stay as they are, so that patterns read as written; a `"` is escaped, not ending the quote.
  const escaped = shown.replace(/"|[^\x20-\x7e\x80-\uffff]/g, (c) => {
    if (c === '"') return '\\"';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  return shown.length < value.length ? `"${escaped}…" (${value.length} characters)` : `"${escaped}"`;
}

function toProblems(issue: z.core.$ZodIssue, prefix: PropertyKey[]): Problem[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: describeUnknownKey(key, RULE_KEYS) }));
  }
  if (issue.code === 'invalid_union') {
    // The branch that got past the type check says best what is wrong: `method: [POST, "P OST"]`.
    const inner = issue.errors.flat().filter((i) => i.code !== 'invalid_type' || i.path.length > 0);
    if (inner.length > 0) return inner.flatMap((i) => toProblems(i, path));
  }
  return [{ path: formatPath(path), message: issue.message }];
}

/** `["any", 1, "body", "project"]` as `any[1].body.project`. */
function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text ? `.${String(segment)}` : String(segment);
  }
  return text || '(root)';
}

export { formatPythonFloat, formatPythonStr, MAX_TESTED_LENGTH } from './python-match.ts';
