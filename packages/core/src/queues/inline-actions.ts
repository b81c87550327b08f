import type { Database } from '@switchboard/db';
import type { Clock } from '../shared/clock.ts';
import type { Logger } from '../shared/logger.ts';
import { runChain } from './actions/action-chain.ts';
import { ActionRunStore } from './actions/action-run-store.ts';
import type { ActionServices } from './actions/action-types.ts';
import { compileTemplate } from './actions/template.ts';
import type { RequestView } from './actions/template-scope.ts';
import type { ResponseDefinition } from './queue-definition.ts';
import type { CompiledQueue } from './queue-registry.ts';

/** An answer a queue makes itself, after its actions. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The longest a sender waits for a queue's actions: what is still running then is stopped, and
 * the run is recorded as failed (an admin can run it again).
 */
const INLINE_TIMEOUT_MS = 30_000;

/**
 * The actions of a queue that answers after them (webhook-proxy's default, `async: false`): run
 * while the sender waits, once the message is stored, then recorded like the worker's runs. Their
 * answer can be a template (status, headers, body) or a provider's handshake preset.
 */
export class InlineActions {
  private readonly store: ActionRunStore;

  constructor(private readonly deps: { db: Database; clock: Clock; logger: Logger; services: ActionServices }) {
    this.store = new ActionRunStore(deps.db);
  }

  async run(
    queue: CompiledQueue,
    seq: number,
    request: RequestView,
  ): Promise<{ failed: string | null; reply: Reply | null }> {
    if (!queue.actions.ok)
      return { failed: `the queue's actions cannot run: ${queue.actions.error.message}`, reply: null };
    const signal = AbortSignal.timeout(INLINE_TIMEOUT_MS);
    const outcome = await runChain(
      {
        actions: queue.actions.value,
        from: 0,
        request,
        message: { id: `${queue.name}:${seq}`, sequence: seq, queue: queue.name },
        context: { values: {} },
        mode: 'inline',
        signal,
      },
      this.deps.services,
    );
    const failed = outcome.failed
      ? `${outcome.failed.action} (action ${outcome.failed.position + 1}) failed: ${outcome.failed.error}`
      : null;
    const now = this.deps.clock.now();
    await this.store
      .recordInline(
        {
          queueId: queue.id,
          seq,
          steps: outcome.steps,
          status: failed ? 'failed' : 'succeeded',
          position: outcome.failed?.position ?? queue.actions.value.length,
          dueAt: now,
          context: outcome.context.values,
          error: failed,
        },
        now,
      )
      .catch((error) =>
        this.deps.logger.error({ err: error, queue: queue.name, seq }, 'could not record an action run'),
      );
    if (failed) {
      this.deps.logger.warn({ queue: queue.name, seq, problem: failed }, 'queue actions failed');
      return { failed, reply: null };
    }
    return { failed: null, reply: queue.response ? makeReply(queue.response, request, outcome.scope) : null };
  }
}

/** The queue's answer; null when the preset does not apply (a Slack event that is not a handshake). */
export function makeReply(
  response: ResponseDefinition,
  request: RequestView,
  scope: Record<string, unknown>,
): Reply | null {
  if ('preset' in response) {
    if (response.preset === 'slack') {
      const json = safeJson(request.body) as { type?: unknown; challenge?: unknown } | undefined;
      if (json?.type !== 'url_verification' || typeof json.challenge !== 'string') return null;
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ challenge: json.challenge }),
      };
    }
    const json = safeJson(request.body) as { challenge?: unknown } | undefined;
    const challenge =
      request.query.challenge ??
      request.query['hub.challenge'] ??
      (typeof json?.challenge === 'string' ? json.challenge : undefined);
    if (challenge === undefined) return null;
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: challenge };
  }
  const render = (source: string): string => {
    const template = compileTemplate(source);
    if (!template.ok) throw new Error(template.error.message);
    return template.value.render(scope);
  };
  try {
    const status = Number(
      typeof response.status === 'string' ? render(response.status).trim() : (response.status ?? 200),
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers ?? {})) headers[name.toLowerCase()] = render(value);
    const body = response.body === undefined ? '' : render(response.body);
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      return {
        status: 500,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: `The queue's response status rendered "${status}", not an HTTP status`,
      };
    }
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return { status, headers, body };
  } catch (error) {
    return {
      status: 500,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: `The queue's response could not be rendered: ${(error as Error).message}`,
    };
  }
}

function safeJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}
