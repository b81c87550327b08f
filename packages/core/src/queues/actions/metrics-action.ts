import { z } from 'zod';
import { ok } from '../../shared/result.ts';
import {
  type ActionFactory,
  compileSetting,
  invalidAction,
  parseSettings,
  renderSetting,
} from './action-definition.ts';
import type { MetricType, StepResult, TrackedMetric } from './action-types.ts';
import type { Template } from './template.ts';

/**
 * `metrics`: a Prometheus metric that tracks the whole run of the queue's actions, not only this one,
 * as webhook-proxy's (src/actions/action_metrics.py in rycus86/webhook-proxy) tracks its endpoint:
 * a counter counts runs, a gauge the runs in progress, a histogram or summary their duration.
 * It is registered when first run, as the registry belongs to the running server, not the file.
 */

const METRIC_TYPES = ['counter', 'gauge', 'histogram', 'summary'] as const satisfies readonly MetricType[];

const metricSchema = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-zA-Z_:][a-zA-Z0-9_:]*$/,
      'is not a Prometheus metric name (letters, digits, _ and :, not starting with a digit)',
    ),
  help: z.string().min(1).optional(),
  labels: z
    .record(
      z
        .string()
        .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/)
        .refine((name) => !name.startsWith('__')),
      z.string(),
      {
        error: (issue) =>
          issue.code === 'invalid_key'
            ? 'is not a Prometheus label name (letters, digits and _, not starting with a digit nor with __)'
            : undefined,
      },
    )
    .default({}),
});

const settingsSchema = z.strictObject({
  counter: metricSchema.optional(),
  gauge: metricSchema.optional(),
  histogram: metricSchema.optional(),
  summary: metricSchema.optional(),
  output: z.string().default('Tracking metrics: {{ metric }}'),
});

export const metricsAction: ActionFactory = (settings, path) => {
  const parsed = parseSettings(settingsSchema, settings, path);
  if (!parsed.ok) return parsed;
  const configured = METRIC_TYPES.filter((type) => parsed.value[type] !== undefined);
  const [type] = configured;
  const metric = type === undefined ? undefined : parsed.value[type];
  if (configured.length !== 1 || type === undefined || metric === undefined) {
    return invalidAction(path, `configure exactly one metric, as one of ${METRIC_TYPES.join(', ')}`);
  }
  const labels: Array<[string, Template]> = [];
  for (const [label, source] of Object.entries(metric.labels)) {
    const compiled = compileSetting(source, `${path}.${type}.labels.${label}`);
    if (!compiled.ok) return compiled;
    labels.push([label, compiled.value]);
  }
  const output = compileSetting(parsed.value.output, `${path}.output`);
  if (!output.ok) return output;
  const { name } = metric;
  const registration = { type, name, help: metric.help ?? name, labelNames: labels.map(([label]) => label) };
  let tracked: TrackedMetric | undefined;

  return ok({
    async run(input, services): Promise<StepResult> {
      if (tracked === undefined) {
        const registered = services.metrics.register(registration);
        if (!registered.ok) {
          return {
            kind: 'failed',
            error: `metric "${name}" cannot be registered as a ${type}: ${registered.error.message}`,
            retryable: false,
          };
        }
        tracked = registered.value;
      }
      const metricNow = tracked;
      // Rendered once, so a gauge goes down on exactly the series it went up on.
      const values: Record<string, string> = {};
      for (const [label, template] of labels) {
        const rendered = renderSetting(template, input.scope);
        if (!rendered.ok) return rendered.result;
        values[label] = rendered.value.trim();
      }
      const said = renderSetting(output.value, { ...input.scope, metric: name });
      if (!said.ok) return said.result;

      // Nothing may fail past this point: a gauge raised here must be lowered by finish.
      if (type === 'gauge') metricNow.inc(values);
      return {
        kind: 'done',
        output: said.value,
        finish: ({ durationSeconds }) => {
          if (type === 'counter') metricNow.inc(values);
          else if (type === 'gauge') metricNow.dec(values);
          else metricNow.observe(values, durationSeconds);
        },
      };
    },
  });
};
