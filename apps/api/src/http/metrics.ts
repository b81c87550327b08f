import type { AttemptOutcome } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Process metrics and one histogram of HTTP requests by method, route pattern and status. */
export function registerMetrics(app: FastifyInstance, registry = new Registry()): Registry {
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    duration.observe(
      {
        method: request.method,
        // The pattern, never the raw URL, so that the label set stays bounded.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return registry;
}

/**
 * Delivery metrics, fed by the worker as outcomes are recorded: attempts by outcome, how long
 * receivers took to answer, and requests in flight.
 */
export function createDeliveryMetrics(registry: Registry, inFlight: () => number) {
  const attempts = new Counter({
    name: 'switchboard_delivery_attempts_total',
    help: 'Delivery attempts by outcome: succeeded, retrying, failed (no attempts left), deferred (rate limit), skipped (subscription disabled, job cancelled, or no attempt left after a worker stopped), released (a claim handed back untried, at shutdown or after waiting too long)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'switchboard_delivery_attempt_duration_seconds',
    help: 'How long receivers took to answer delivery attempts (or to fail)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  new Gauge({
    name: 'switchboard_deliveries_in_flight',
    help: 'Delivery requests this process is making right now',
    registers: [registry],
    collect() {
      this.set(inFlight());
    },
  });
  return (outcome: AttemptOutcome) => {
    if (outcome.disposition !== 'attempted') {
      attempts.inc({ outcome: outcome.disposition === 'exhausted' ? 'skipped' : outcome.disposition });
      return;
    }
    attempts.inc({ outcome: outcome.succeeded ? 'succeeded' : outcome.status === 'pending' ? 'retrying' : 'failed' });
    duration.observe(outcome.durationMs / 1000);
  };
}
