import type { ActionMetrics, TrackedMetric } from '@switchboard/core';
import { Counter, Gauge, Histogram, type Registry, Summary } from 'prom-client';

type Metric = Counter | Gauge | Histogram | Summary;

/**
 * The `metrics` action's metrics, in the registry `/metrics` serves: one per name, registered by
 * the first message that runs the action, with the label names it was given then. A second
 * registration under the same name must agree, or it is refused (Prometheus could not expose both).
 */
export function createActionMetrics(registry: Registry): ActionMetrics {
  const known = new Map<string, { type: string; labelNames: string; metric: Metric }>();
  return {
    register({ type, name, help, labelNames }) {
      const labels = [...labelNames].sort().join(',');
      const existing = known.get(name);
      if (existing) {
        if (existing.type !== type || existing.labelNames !== labels) {
          return {
            ok: false,
            error: {
              code: 'CONFLICT',
              message: `metric "${name}" is already a ${existing.type} with labels [${existing.labelNames}]`,
            },
          };
        }
        return { ok: true, value: track(existing.metric) };
      }
      if (registry.getSingleMetric(name)) {
        return { ok: false, error: { code: 'CONFLICT', message: `metric "${name}" is one of Switchboard's own` } };
      }
      const options = { name, help, labelNames: [...labelNames], registers: [registry] };
      const metric: Metric =
        type === 'counter'
          ? new Counter(options)
          : type === 'gauge'
            ? new Gauge(options)
            : type === 'histogram'
              ? new Histogram(options)
              : new Summary(options);
      known.set(name, { type, labelNames: labels, metric });
      return { ok: true, value: track(metric) };
    },
  };
}

function track(metric: Metric): TrackedMetric {
  return {
    inc: (labels, value = 1) => (metric as Counter | Gauge).inc(labels, value),
    dec: (labels, value = 1) => (metric as Gauge).dec(labels, value),
    observe: (labels, value) => (metric as Histogram | Summary).observe(labels, value),
  };
}
