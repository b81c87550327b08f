import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.ts';
import { fail, ok } from '../../shared/result.ts';
import type {
  ActionMetrics,
  ActionServices,
  MetricType,
  StepInput,
  StepResult,
  TrackedMetric,
} from './action-types.ts';
import { metricsAction } from './metrics-action.ts';

interface MemoryMetric {
  type: MetricType;
  help: string;
  labelNames: readonly string[];
  /** Counter and gauge values by series (labels as JSON). */
  values: Map<string, number>;
  observations: Array<{ labels: Record<string, string>; value: number }>;
}

/** A registry like prom-client's: a name keeps its first type and label names. */
function makeMemoryMetrics() {
  const metrics = new Map<string, MemoryMetric>();
  let registrations = 0;
  const registry: ActionMetrics = {
    register({ type, name, help, labelNames }) {
      registrations += 1;
      const known = metrics.get(name);
      if (known && (known.type !== type || known.labelNames.join() !== labelNames.join())) {
        return fail('CONFLICT', `"${name}" is already a ${known.type} with labels [${known.labelNames.join(', ')}]`);
      }
      const metric: MemoryMetric = known ?? { type, help, labelNames, values: new Map(), observations: [] };
      metrics.set(name, metric);
      const add = (labels: Record<string, string>, by: number) => {
        const key = JSON.stringify(labels);
        metric.values.set(key, (metric.values.get(key) ?? 0) + by);
      };
      const tracked: TrackedMetric = {
        inc: (labels, value = 1) => add(labels, value),
        dec: (labels, value = 1) => add(labels, -value),
        observe: (labels, value) => metric.observations.push({ labels, value }),
      };
      return ok(tracked);
    },
  };
  return { registry, metrics, registrations: () => registrations };
}

function makeServices(metrics: ActionMetrics): ActionServices {
  return {
    logger: silentLogger,
    clock: { now: () => new Date() },
    env: {},
    readFile: () => null,
    allowCommands: false,
    dockerHost: undefined,
    metrics,
    publish: async () => fail('UNAVAILABLE', 'no publishing here'),
    send: async () => {
      throw new Error('no sending here');
    },
  };
}

function makeInput(scope: Record<string, unknown> = {}): StepInput {
  return {
    scope,
    message: { body: Buffer.from(''), headers: {}, method: 'POST' },
    mode: 'inline',
    signal: new AbortController().signal,
    retry: { maxAttempts: 1, scheduleMs: [0] },
  };
}

function compile(settings: Record<string, unknown>) {
  const made = metricsAction(settings, 'actions[1].metrics');
  if (!made.ok) throw new Error(made.error.message);
  return made.value;
}

function done(result: StepResult) {
  if (result.kind !== 'done') throw new Error(`expected done, got ${JSON.stringify(result)}`);
  return result;
}

const finished = { durationSeconds: 0.25, failed: false };

describe('metrics action', () => {
  it('counts a counter once the run finishes, registering it with its name as help by default', async () => {
    const memory = makeMemoryMetrics();
    const result = done(
      await compile({ counter: { name: 'hooks_total' } }).run(makeInput(), makeServices(memory.registry)),
    );
    expect(result.output).toBe('Tracking metrics: hooks_total');
    const metric = memory.metrics.get('hooks_total');
    expect(metric).toMatchObject({ type: 'counter', help: 'hooks_total', labelNames: [] });
    expect(metric?.values.get('{}')).toBeUndefined();
    result.finish?.(finished);
    expect(metric?.values.get('{}')).toBe(1);
  });

  it('raises a gauge while runs are in progress and lowers it as each finishes', async () => {
    const memory = makeMemoryMetrics();
    const action = compile({ gauge: { name: 'in_progress', help: 'Runs in progress' } });
    const services = makeServices(memory.registry);
    const first = done(await action.run(makeInput(), services));
    const second = done(await action.run(makeInput(), services));
    const metric = memory.metrics.get('in_progress');
    expect(metric?.help).toBe('Runs in progress');
    expect(metric?.values.get('{}')).toBe(2);
    first.finish?.(finished);
    expect(metric?.values.get('{}')).toBe(1);
    second.finish?.({ durationSeconds: 1, failed: true });
    expect(metric?.values.get('{}')).toBe(0);
    expect(memory.registrations()).toBe(1);
  });

  it.each(['histogram', 'summary'] as const)('observes the run duration in a %s', async (type) => {
    const memory = makeMemoryMetrics();
    const result = done(
      await compile({ [type]: { name: `run_seconds_${type}` } }).run(makeInput(), makeServices(memory.registry)),
    );
    expect(memory.metrics.get(`run_seconds_${type}`)?.observations).toEqual([]);
    result.finish?.(finished);
    expect(memory.metrics.get(`run_seconds_${type}`)).toMatchObject({
      type,
      observations: [{ labels: {}, value: 0.25 }],
    });
  });

  it('renders label templates from the scope when run, trimmed, the same series lowered as raised', async () => {
    const memory = makeMemoryMetrics();
    const action = compile({
      gauge: { name: 'by_path', labels: { path: ' {{ request.path }}\n', method: '{{ request.method }}' } },
    });
    const services = makeServices(memory.registry);
    const result = done(await action.run(makeInput({ request: { path: '/q/builds', method: 'POST' } }), services));
    const metric = memory.metrics.get('by_path');
    expect(metric?.labelNames).toEqual(['path', 'method']);
    expect([...(metric?.values.entries() ?? [])]).toEqual([[JSON.stringify({ path: '/q/builds', method: 'POST' }), 1]]);
    result.finish?.(finished);
    expect([...(metric?.values.values() ?? [])]).toEqual([0]);
  });

  it('renders output with metric as the metric name', async () => {
    const memory = makeMemoryMetrics();
    const action = compile({ summary: { name: 'timing' }, output: '{{ metric }} for {{ who }}' });
    expect(done(await action.run(makeInput({ who: 'ann' }), makeServices(memory.registry))).output).toBe(
      'timing for ann',
    );
  });

  it('fails without retrying when the name is taken by another type or other labels', async () => {
    const memory = makeMemoryMetrics();
    const services = makeServices(memory.registry);
    done(await compile({ counter: { name: 'shared' } }).run(makeInput(), services));
    const otherType = await compile({ gauge: { name: 'shared' } }).run(makeInput(), services);
    expect(otherType).toMatchObject({ kind: 'failed', retryable: false });
    expect(otherType.kind === 'failed' && otherType.error).toBe(
      'metric "shared" cannot be registered as a gauge: "shared" is already a counter with labels []',
    );
    const otherLabels = await compile({ counter: { name: 'shared', labels: { path: 'x' } } }).run(
      makeInput(),
      services,
    );
    expect(otherLabels).toMatchObject({ kind: 'failed', retryable: false });
    expect(otherLabels.kind === 'failed' && otherLabels.error).toContain('"shared"');
  });

  it('refuses bad names and shapes when the file is loaded', () => {
    const refused = (settings: Record<string, unknown>) => {
      const made = metricsAction(settings, 'actions[1].metrics');
      if (made.ok) throw new Error(`accepted ${JSON.stringify(settings)}`);
      return made.error.message;
    };
    expect(refused({ counter: { name: '1st_total' } })).toMatch(
      /^actions\[1\]\.metrics\.counter\.name: is not a Prometheus metric name/,
    );
    expect(refused({ gauge: { name: 'with-dash' } })).toMatch(
      /^actions\[1\]\.metrics\.gauge\.name: is not a Prometheus metric name/,
    );
    expect(refused({ counter: { name: 'ok', labels: { 'bad-label': 'x' } } })).toMatch(
      /^actions\[1\]\.metrics\.counter\.labels\.bad-label: is not a Prometheus label name/,
    );
    expect(refused({ counter: { name: 'ok', labels: { __reserved: 'x' } } })).toMatch(
      /labels\.__reserved: is not a Prometheus label name/,
    );
    expect(refused({ counter: { name: 'ok', labels: { 'a:b': 'x' } } })).toMatch(
      /labels\.a:b: is not a Prometheus label name/,
    );
    expect(refused({})).toBe(
      'actions[1].metrics: configure exactly one metric, as one of counter, gauge, histogram, summary',
    );
    expect(refused({ counter: { name: 'a' }, gauge: { name: 'b' } })).toMatch(/configure exactly one metric/);
    expect(refused({ counter: { name: 'a', buckets: [1] } })).toBe('actions[1].metrics.counter: unknown key "buckets"');
    expect(refused({ meter: { name: 'a' } })).toBe('actions[1].metrics: unknown key "meter"');
    expect(refused({ counter: {} })).toMatch(/^actions\[1\]\.metrics\.counter\.name: /);
    expect(refused({ counter: { name: 'a', labels: { path: '{{ broken' } } })).toMatch(
      /^actions\[1\]\.metrics\.counter\.labels\.path: /,
    );
    expect(refused({ counter: { name: 'a' }, output: '{% if %}' })).toMatch(/^actions\[1\]\.metrics\.output: /);
  });

  it('accepts the names Prometheus accepts', () => {
    expect(
      metricsAction({ histogram: { name: 'ns:job_seconds', labels: { _private: 'x', Path2: 'y' } } }, 'm').ok,
    ).toBe(true);
  });
});
