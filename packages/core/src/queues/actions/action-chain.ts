import type { ActionServices, CompiledAction, OwedRequest, StepInput } from './action-types.ts';
import { type ActionContext, createScope, type RequestView } from './template-scope.ts';

/** What an action may leave as its output: the rest is cut, and the cut said. */
export const MAX_OUTPUT_CHARS = 64 * 1024;

/** One action of a message's list, as it ran this time. */
export interface StepRecord {
  position: number;
  action: string;
  status: 'succeeded' | 'failed' | 'queued';
  output: string | null;
  error: string | null;
  durationMs: number;
  startedAt: Date;
  /** The request a `queued` step owes (http, forward in the worker). */
  owed: OwedRequest | null;
}

export interface ChainOutcome {
  steps: StepRecord[];
  /** The failed step, when one stopped the list. */
  failed: { position: number; action: string; error: string; retryable: boolean } | null;
  /** What the actions share, after them. */
  context: ActionContext;
  /** The scope the list ran with, for the answer's templates. */
  scope: Record<string, unknown>;
}

export interface ChainInput {
  actions: readonly CompiledAction[];
  /** The first action to run: 0, or where a retry picks up. */
  from: number;
  request: RequestView;
  message: { id: string; sequence: number; queue: string };
  context: ActionContext;
  mode: StepInput['mode'];
  signal: AbortSignal;
}

/** Postgres text cannot hold NUL: a command's binary output is kept with its NULs replaced. */
const NUL = '\u0000';

function truncate(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) return null;
  const text = raw.includes(NUL) ? raw.replaceAll(NUL, '\uFFFD') : raw;
  if (text.length <= MAX_OUTPUT_CHARS) return text;
  return `${text.slice(0, MAX_OUTPUT_CHARS)}\n… (${text.length - MAX_OUTPUT_CHARS} more characters cut)`;
}

/**
 * Runs a queue's actions in order for one message, sharing one scope and one context; the first
 * that fails stops the ones after it. An action that throws (it should not) fails like one that
 * says so, and may be tried again. What each action finishes (a metric tracking the list) runs once
 * the list has ended, with its duration.
 */
export async function runChain(input: ChainInput, services: ActionServices): Promise<ChainOutcome> {
  const scope = createScope({
    request: input.request,
    message: input.message,
    context: input.context,
    env: services.env,
    readFile: services.readFile,
    now: services.clock.now(),
  });
  const steps: StepRecord[] = [];
  const finishers: Array<(outcome: { durationSeconds: number; failed: boolean }) => void> = [];
  const began = performance.now();
  let failed: ChainOutcome['failed'] = null;
  const message = {
    body: input.request.body,
    headers: input.request.headers,
    method: input.request.method,
  };
  for (let position = input.from; position < input.actions.length; position++) {
    const action = input.actions[position] as CompiledAction;
    const startedAt = services.clock.now();
    const start = performance.now();
    let result: Awaited<ReturnType<CompiledAction['run']>>;
    try {
      result = await action.run(
        { scope, message, mode: input.mode, signal: input.signal, retry: action.retry },
        services,
      );
    } catch (error) {
      result = {
        kind: 'failed',
        error: `${action.name} failed unexpectedly: ${(error as Error).message}`,
        retryable: true,
      };
    }
    const durationMs = Math.round(performance.now() - start);
    const base = { position, action: action.name, startedAt, durationMs };
    if (result.kind === 'failed') {
      steps.push({
        ...base,
        status: 'failed',
        output: truncate(result.output),
        error: truncate(result.error),
        owed: null,
      });
      failed = { position, action: action.name, error: result.error, retryable: result.retryable };
      break;
    }
    if (result.kind === 'done' && result.finish) finishers.push(result.finish);
    steps.push({
      ...base,
      status: result.kind === 'owed' ? 'queued' : 'succeeded',
      output: truncate(result.output),
      error: null,
      owed: result.kind === 'owed' ? result.request : null,
    });
  }
  const durationSeconds = (performance.now() - began) / 1000;
  for (const finish of finishers) {
    try {
      finish({ durationSeconds, failed: failed !== null });
    } catch (error) {
      services.logger.warn({ err: error }, 'an action could not record its metric');
    }
  }
  return { steps, failed, context: input.context, scope };
}
