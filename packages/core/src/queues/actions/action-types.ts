import type { OutboundRequest, OutboundResult } from '../../outbound/http-sender.ts';
import type { RetryPolicy } from '../../outbound/retry-policy.ts';
import type { Clock } from '../../shared/clock.ts';
import type { Logger } from '../../shared/logger.ts';
import type { Result } from '../../shared/result.ts';

/**
 * What the actions of a queue need from the rest of the system, given once when core is built.
 * Commands and the Docker daemon stay out of reach unless the server allows them
 * (`ALLOW_COMMANDS`): an admin's file should not be able to turn a webhook into a shell by default.
 */
export interface ActionServices {
  logger: Logger;
  clock: Clock;
  /** The environment `read_config` may read; never the place secrets are logged from. */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads a file for `read_config` and compose files; null when it cannot be read. */
  readFile: (path: string) => string | null;
  allowCommands: boolean;
  /** Where the Docker Engine API answers (`DOCKER_HOST`); undefined: the default socket. */
  dockerHost: string | undefined;
  metrics: ActionMetrics;
  /** Publishes an event as the system, for the `publish` action. */
  publish: (input: {
    type: string;
    payload: unknown;
    idempotencyKey: string | null;
  }) => Promise<Result<{ id: string }>>;
  /** Sends a request at once, through the SSRF guard (`http`/`forward` of a queue that answers after its actions). */
  send: (request: OutboundRequest) => Promise<OutboundResult>;
}

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary';

/** The `metrics` action's registry: one metric per name, its label names fixed when first registered. */
export interface ActionMetrics {
  register(input: {
    type: MetricType;
    name: string;
    help: string;
    labelNames: readonly string[];
  }): Result<TrackedMetric>;
}

export interface TrackedMetric {
  inc(labels: Record<string, string>, value?: number): void;
  dec(labels: Record<string, string>, value?: number): void;
  observe(labels: Record<string, string>, value: number): void;
}

/** The request an `http` or `forward` action owes, sent by the outbound engine when actions run in the worker. */
export interface OwedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** null: the message's own bytes. */
  body: Buffer | null;
  timeoutMs: number;
  retryPolicy: RetryPolicy;
  /** Standard Webhooks signing with this secret; null: sent unsigned. */
  signingSecret: string | null;
}

/** What one action did. */
export type StepResult =
  | {
      kind: 'done';
      output: string | null;
      /** Runs when the whole list has ended (a metric tracks the list's execution). */
      finish?: (outcome: { durationSeconds: number; failed: boolean }) => void;
    }
  /** Owed as an outbound delivery (actions run in the worker): sent, retried and recorded by the engine. */
  | { kind: 'owed'; output: string | null; request: OwedRequest }
  /** `retryable`: a later attempt may succeed (a command failed, a daemon was away); not for a template's error(). */
  | { kind: 'failed'; error: string; output?: string | null; retryable: boolean };

export interface StepInput {
  /** The template scope (see template-scope.ts), shared by the list's actions. */
  scope: Record<string, unknown>;
  /** The message as received. */
  message: { body: Buffer; headers: Record<string, string>; method: string };
  /** `inline`: the sender is waiting for the answer; `worker`: after the answer, durably. */
  mode: 'inline' | 'worker';
  signal: AbortSignal;
  /** The action's own retry settings, which a request it owes is retried on. */
  retry: CompiledAction['retry'];
}

/** One action of a queue's list, checked and compiled. */
export interface CompiledAction {
  /** Its name in the file: `log`, `http`, `github-verify`, … */
  readonly name: string;
  readonly retry: Required<Pick<RetryPolicy, 'maxAttempts'>> & { scheduleMs: readonly number[] };
  run(input: StepInput, services: ActionServices): Promise<StepResult>;
}
