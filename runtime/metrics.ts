// runtime/metrics.ts
// Prometheus metrics (prom-client): process defaults, per-function runs, storage and lease gauges.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly fnRuns = new Counter({ name: 'btc_ts_function_runs_total', help: 'Function invocations', labelNames: ['fn', 'source', 'result'], registers: [this.registry] });
  readonly fnErrors = new Counter({ name: 'btc_ts_function_errors_total', help: 'Function invocations that failed', labelNames: ['fn'], registers: [this.registry] });
  readonly fnDuration = new Histogram({
    name: 'btc_ts_function_duration_seconds',
    help: 'Function run time',
    labelNames: ['fn'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly primaryUp = new Gauge({ name: 'btc_ts_storage_primary_up', help: '1 when writes go to the primary', registers: [this.registry] });
  readonly leaseHolder = new Gauge({ name: 'btc_ts_lease_holder', help: '1 when this runtime holds the collector lease', registers: [this.registry] });
  readonly leaseEpoch = new Gauge({ name: 'btc_ts_lease_epoch', help: 'Epoch of the collector lease as last seen', registers: [this.registry] });
  readonly mode = new Gauge({ name: 'btc_ts_mode', help: 'Current mode (1 for the active one)', labelNames: ['mode'], registers: [this.registry] });

  constructor(options: { defaults?: boolean } = {}) {
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry, prefix: 'btc_ts_' });
  }

  observeRun(fn: string, source: string, result: 'ok' | 'error', ms: number): void {
    this.fnRuns.inc({ fn, source, result });
    if (result === 'error') this.fnErrors.inc({ fn });
    this.fnDuration.observe({ fn }, ms / 1000);
  }
}
