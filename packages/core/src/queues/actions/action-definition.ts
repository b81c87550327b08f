import { z } from 'zod';
import { fail, ok, type Result } from '../../shared/result.ts';
import type { ActionServices, CompiledAction, StepInput, StepResult } from './action-types.ts';
import { compileTemplate, type Template } from './template.ts';

/**
 * A queue's actions, in webhook-proxy's form: a list of one-key mappings, the key naming the action
 * and the value its settings (`- log: {message: '...'}`), so that its users' files load as they
 * stand. Switchboard adds `retry` to any action, and actions of its own (forward, publish, verify).
 */
export const actionListSchema = z
  .array(
    z
      .record(z.string(), z.unknown())
      .refine((item) => Object.keys(item).length === 1, 'each action is a mapping with exactly one key, its name'),
  )
  .max(50, 'a queue has at most 50 actions');

export type ActionList = z.infer<typeof actionListSchema>;

const retrySchema = z.strictObject({
  /** Attempts in all, the first included. */
  attempts: z.number().int().min(1).max(20).default(3),
  /** Seconds before each retry; the last repeats. */
  delays: z.array(z.number().min(0).max(86_400)).min(1).max(20).default([5, 30, 300]),
});

/** Compiles one action's settings, its `retry` taken off; `path` names it in problems. */
export type ActionFactory = (
  settings: Record<string, unknown>,
  path: string,
) => Result<Omit<CompiledAction, 'retry' | 'name'>>;

/** One problem with an action's settings, as the config file and the API report it. */
export function invalidAction(path: string, message: string): Result<never> {
  return fail('INVALID', `${path}: ${message}`, { fields: [{ path, message }] });
}

/** Settings checked against a strict schema (unknown keys refused), problems named by their path. */
export function parseSettings<T extends z.ZodType>(schema: T, settings: unknown, path: string): Result<z.output<T>> {
  const parsed = schema.safeParse(settings ?? {});
  if (parsed.success) return ok(parsed.data);
  const fields = parsed.error.issues.map((issue) => ({
    path: [path, ...issue.path.map(String)].join('.'),
    message:
      issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message,
  }));
  const first = fields[0];
  return fail('INVALID', first ? `${first.path}: ${first.message}` : `${path} is not valid`, { fields });
}

/** A template in an action's settings, compiled now so that a broken one refuses the file, not a message later. */
export function compileSetting(source: string, path: string): Result<Template> {
  const compiled = compileTemplate(source);
  return compiled.ok ? compiled : invalidAction(path, compiled.error.message);
}

/** Renders a compiled template; a template's error() or a failure to render fails the action, not retried. */
export function renderSetting(
  template: Template,
  scope: Record<string, unknown>,
): { ok: true; value: string } | { ok: false; result: StepResult } {
  try {
    return { ok: true, value: template.render(scope) };
  } catch (error) {
    return { ok: false, result: { kind: 'failed', error: (error as Error).message, retryable: false } };
  }
}

export type { ActionServices, StepInput };

/**
 * Compiles a queue's list with the factories given (see action-catalog.ts). Every problem of every
 * action is reported at once, by path (`actions[2].http.target`).
 */
export function compileActionList(
  list: unknown,
  factories: Readonly<Record<string, ActionFactory>>,
  refused: Readonly<Record<string, string>>,
  base = 'actions',
): Result<CompiledAction[]> {
  const parsed = actionListSchema.safeParse(list ?? []);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => ({
      path: [base, ...i.path.map(String)].join('.'),
      message: i.message,
    }));
    return fail('INVALID', `${fields[0]?.path}: ${fields[0]?.message}`, { fields });
  }
  const problems: Array<{ path: string; message: string }> = [];
  const compiled: CompiledAction[] = [];
  parsed.data.forEach((item, index) => {
    const [name, raw] = Object.entries(item)[0] as [string, unknown];
    const path = `${base}[${index}].${name}`;
    if (refused[name]) {
      problems.push({ path, message: refused[name] });
      return;
    }
    const factory = factories[name];
    if (!factory) {
      problems.push({
        path,
        message: `"${name}" is not an action; known: ${Object.keys(factories).sort().join(', ')}`,
      });
      return;
    }
    if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
      problems.push({ path, message: 'its settings must be a mapping' });
      return;
    }
    const { retry: rawRetry, ...settings } = (raw ?? {}) as Record<string, unknown>;
    const retry = retrySchema.safeParse(rawRetry ?? {});
    if (!retry.success) {
      problems.push({ path: `${path}.retry`, message: retry.error.issues[0]?.message ?? 'is not valid' });
      return;
    }
    const made = factory(settings, path);
    if (!made.ok) {
      problems.push(...(made.error.fields ?? [{ path, message: made.error.message }]));
      return;
    }
    compiled.push({
      ...made.value,
      name,
      retry: { maxAttempts: retry.data.attempts, scheduleMs: [0, ...retry.data.delays.map((s) => s * 1000)] },
    });
  });
  if (problems.length > 0)
    return fail('INVALID', `${problems[0]?.path}: ${problems[0]?.message}`, { fields: problems });
  return ok(compiled);
}
