import { z } from 'zod';
import { parseNetwork } from '../../shared/network.ts';

/**
 * A queue's inbound rules: whether a webhook is accepted. `headers` and `body` are webhook-proxy's
 * endpoint validators (regular expressions by header name and by JSON field); `method`, `source`,
 * `all`, `any` and `not` extend them. A rule holds when every key it has holds; `{}` holds.
 *
 * This schema checks the shape; `compileRules` (rules.ts) also compiles the patterns and counts
 * them, so it is the complete check to run whenever rules are saved.
 */
export interface RulesDefinition {
  /** One method or a list, in any case. */
  method?: string | string[];
  /** Header name (any case) to a pattern its value must match from its start. */
  headers?: Record<string, string>;
  /** JSON field name to a pattern, or to the rules of a nested object. */
  body?: BodyRules;
  /** Addresses or CIDR networks the sender's address must be in. */
  source?: string | string[];
  all?: RulesDefinition[];
  any?: RulesDefinition[];
  not?: RulesDefinition;
}

export interface BodyRules {
  [field: string]: string | BodyRules;
}

export const RULE_KEYS = ['method', 'headers', 'body', 'source', 'all', 'any', 'not'] as const;
/** Rules inside rules (`all`, `any`, `not`): at most this many levels. */
export const MAX_RULE_DEPTH = 16;
/** Mappings inside `body`: at most this many levels. */
export const MAX_BODY_DEPTH = 32;
const MAX_LIST = 100;
const MAX_SOURCES = 1_000;

const method = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP method such as POST');
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name');
const network = z.string().refine((n) => parseNetwork(n) !== null, 'is not an IP address or CIDR network');

const bodySchema = z.unknown().check((ctx) => {
  for (const issue of findBodyProblems(ctx.value, [], 1))
    ctx.issues.push({ code: 'custom', input: ctx.value, ...issue });
}) as unknown as z.ZodType<BodyRules>;

const ruleObjectSchema: z.ZodType<RulesDefinition> = z.lazy(() =>
  z.strictObject({
    method: z
      .union([method, z.array(method).min(1, 'must list at least one method').max(MAX_LIST)], {
        error: 'must be an HTTP method or a list of them',
      })
      .optional(),
    headers: z.record(headerName, z.string()).optional(),
    body: bodySchema.optional(),
    source: z
      .union([network, z.array(network).min(1, 'must list at least one address or network').max(MAX_SOURCES)], {
        error: 'must be an IP address or CIDR network, or a list of them',
      })
      .optional(),
    // An empty `any` could never hold; an empty `all` always would: both are mistakes.
    all: z.array(ruleObjectSchema).min(1, 'must list at least one rule').max(MAX_LIST).optional(),
    any: z.array(ruleObjectSchema).min(1, 'must list at least one rule').max(MAX_LIST).optional(),
    not: ruleObjectSchema.optional(),
  }),
);

/**
 * The nesting of `all`/`any`/`not` is measured before zod walks it: zod recurses once per level,
 * so a rule nested thousands deep would otherwise overflow the stack instead of being refused.
 * Typed with RulesDefinition as its input too, so that definitions holding rules keep their type.
 */
export const rulesSchema = z
  .unknown()
  .check((ctx) => {
    const path = findTooDeep(ctx.value);
    if (path) {
      const message = `nests all/any/not deeper than ${MAX_RULE_DEPTH} levels`;
      ctx.issues.push({ code: 'custom', input: ctx.value, path, message, continue: false });
    }
  })
  .pipe(ruleObjectSchema) as unknown as z.ZodType<RulesDefinition, RulesDefinition>;

type PathSegment = string | number;

/** The path of the first rule nested deeper than allowed, or null; walks without recursion. */
function findTooDeep(value: unknown): PathSegment[] | null {
  const stack: Array<{ rule: unknown; path: PathSegment[]; depth: number }> = [{ rule: value, path: [], depth: 0 }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { rule, path, depth } = item;
    if (!isPlainObject(rule)) continue;
    if (depth > MAX_RULE_DEPTH) return path;
    for (const key of ['all', 'any'] as const) {
      const list = rule[key];
      if (!Array.isArray(list)) continue;
      for (const [i, child] of list.entries()) stack.push({ rule: child, path: [...path, key, i], depth: depth + 1 });
    }
    stack.push({ rule: rule.not, path: [...path, 'not'], depth: depth + 1 });
  }
  return null;
}

/**
 * A body rule is a pattern or a mapping, nothing else. webhook-proxy takes any YAML value and a
 * number or `true` there then fails every message; it is refused here instead, when it is written.
 */
function findBodyProblems(
  value: unknown,
  path: PathSegment[],
  depth: number,
): Array<{ path: PathSegment[]; message: string }> {
  if (!isPlainObject(value)) {
    const message = depth === 1 ? 'must be a mapping of field names to rules' : describeBadBodyRule(value);
    return [{ path, message }];
  }
  if (depth > MAX_BODY_DEPTH) return [{ path, message: `nests deeper than ${MAX_BODY_DEPTH} levels` }];
  const problems: Array<{ path: PathSegment[]; message: string }> = [];
  for (const [key, rule] of Object.entries(value)) {
    if (typeof rule !== 'string') problems.push(...findBodyProblems(rule, [...path, key], depth + 1));
  }
  return problems;
}

function describeBadBodyRule(value: unknown): string {
  if (Array.isArray(value)) {
    return 'must be a pattern or a mapping, not a list: one rule is checked against every item of a list field';
  }
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return `must be a pattern (a string; quote it in YAML: '${shown}') or a mapping of field names to rules`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
