// runtime/metrics.ts
// Prometheus metrics (prom-client): process defaults, per-function runs, storage and lease gauges,
// sync backlog and runs, storage switches, leader changes, per-stream records / last-ok age, dashboard export, open alerts.
// A one-shot command's metrics are kept lazily: prom-client (~40 ms to load) is loaded only when something reads them.

import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, CounterConfiguration, Gauge, GaugeConfiguration, Histogram, HistogramConfiguration, Registry } from 'prom-client';

/** What the runtime calls on each kind of metric: exactly what a lazy one (`PendingMetric`) can record. */
export type CounterMetric<T extends string = string> = Pick<Counter<T>, 'inc'>;
export type GaugeMetric<T extends string = string> = Pick<Gauge<T>, 'set' | 'reset'>;
export type HistogramMetric<T extends string = string> = Pick<Histogram<T>, 'observe'>;

type Kind = 'counter' | 'gauge' | 'histogram';
type Method = 'inc' | 'set' | 'reset' | 'observe';
type Config = Omit<CounterConfiguration<string> | GaugeConfiguration<string> | HistogramConfiguration<string>, 'registers'>;

/** Calls kept by a lazy Metrics before prom-client is loaded; past this many it is loaded and they are replayed (memory stays bounded). */
export const MAX_PENDING_CALLS = 10_000;

/**
 * A metric of a lazy Metrics before prom-client is loaded: its calls are kept in order (on the
 * Metrics) and replayed on the real metric when it exists; from then on each call goes straight to it.
 */
class PendingMetric {
  target: Record<Method, (...args: unknown[]) => void> | null = null;
  constructor(
    private readonly owner: Metrics,
    readonly kind: Kind,
    readonly config: Config,
  ) {}
  inc(...args: unknown[]): void {
    this.call('inc', args);
  }
  set(...args: unknown[]): void {
    this.call('set', args);
  }
  reset(): void {
    this.call('reset', []);
  }
  observe(...args: unknown[]): void {
    this.call('observe', args);
  }
  private call(method: Method, args: unknown[]): void {
    if (this.target) this.target[method](...args);
    else this.owner.keep(this, method, args);
  }
}

const STREAM_LABELS = ['exchange', 'topic', 'symbol'] as const;
export interface StreamLabels {
  exchange: string;
  topic: string;
  symbol: string;
}

export class Metrics {
  private prom: typeof PromClient | null = null;
  private realRegistry: Registry | null = null;
  private readonly pendingMetrics: PendingMetric[] = [];
  private pendingCalls: Array<{ metric: PendingMetric; method: Method; args: unknown[] }> = [];
  private defaults = false;

  readonly fnRuns = this.counter({ name: 'btc_ts_function_runs_total', help: 'Function invocations', labelNames: ['fn', 'source', 'result'] });
  readonly fnErrors = this.counter({ name: 'btc_ts_function_errors_total', help: 'Function invocations that failed', labelNames: ['fn'] });
  readonly fnDuration = this.histogram({
    name: 'btc_ts_function_duration_seconds',
    help: 'Function run time',
    labelNames: ['fn'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  readonly primaryUp = this.gauge({ name: 'btc_ts_storage_primary_up', help: '1 when writes go to the primary' });
  readonly leaseHolder = this.gauge({ name: 'btc_ts_lease_holder', help: '1 when this runtime holds the collector lease' });
  readonly leaseEpoch = this.gauge({ name: 'btc_ts_lease_epoch', help: 'Epoch of the collector lease as last seen' });
  readonly mode = this.gauge({ name: 'btc_ts_mode', help: 'Current mode (1 for the active one)', labelNames: ['mode'] });

  readonly syncBacklogObjects = this.gauge({ name: 'btc_ts_sync_backlog_objects', help: 'Objects in the local cache waiting for sync to the primary' });
  readonly diskFreeBytes = this.gauge({ name: 'btc_ts_disk_free_bytes', help: "Free bytes of the data directory's file system (write-ahead log and cache), read at scrape time" });
  readonly syncBacklogBytes = this.gauge({ name: 'btc_ts_sync_backlog_bytes', help: 'Bytes in the local cache waiting for sync to the primary' });
  readonly streamRecords = this.counter({ name: 'btc_ts_stream_records_total', help: 'Raw records appended per stream', labelNames: [...STREAM_LABELS] });
  readonly streamLastOkAge = this.gauge({
    name: 'btc_ts_stream_last_ok_age_seconds',
    help: 'Seconds since the stream last fetched successfully',
    labelNames: [...STREAM_LABELS],
    collect: () => this.collectStreamAges(),
  });
  /** Requests the HTTP face refused before any route ran: `host` (DNS rebinding), `cross_site`, `content_type`. */
  readonly httpRefused = this.counter({ name: 'btc_ts_http_refused_total', help: 'HTTP requests refused by the Host, same-origin or content-type rule', labelNames: ['reason'] });
  readonly dashboardExports = this.counter({ name: 'btc_ts_dashboard_exports_total', help: 'Dashboard exports by result', labelNames: ['result'] });
  readonly dashboardSequence = this.gauge({ name: 'btc_ts_dashboard_manifest_sequence', help: 'Sequence of the last manifest this runtime committed' });
  readonly dashboardLastSuccess = this.gauge({ name: 'btc_ts_dashboard_last_success_timestamp_seconds', help: 'Unix time of the last successful export by this runtime' });
  readonly dashboardRows = this.gauge({ name: 'btc_ts_dashboard_dataset_rows', help: 'Rows of each dataset in the last export', labelNames: ['dataset'] });
  readonly storageUsedBytes = this.gauge({ name: 'btc_ts_storage_used_bytes', help: 'Bytes in the primary bucket at the last capacity check (compact duty)' });
  readonly storageGrowthBytes = this.gauge({ name: 'btc_ts_storage_growth_bytes_per_day', help: 'Bytes a closed day keeps for good, mean of the last 7 days' });
  readonly storageDaysUntilFull = this.gauge({ name: 'btc_ts_storage_days_until_full', help: 'Days until the primary reaches storage.capacityBytes at the current growth (absent without capacityBytes or growth)' });
  readonly compactLastSuccess = this.gauge({ name: 'btc_ts_compact_last_success_timestamp_seconds', help: 'Unix time of the last compact run without a failed stream-day' });

  // Seed 000 §28.6 (switch.count, leader.failover.count, sync.items/bytes/elapsed_ms) and the alerts (issue 16).
  readonly storageSwitches = this.counter({ name: 'btc_ts_storage_switch_total', help: 'Storage switches of this runtime: direction primary_to_secondary (primary lost) or secondary_to_primary (back)', labelNames: ['direction'] });
  readonly leaderChanges = this.counter({ name: 'btc_ts_leader_changes_total', help: 'New lease epochs seen by this runtime (each one a change of leader or a new term)' });
  readonly syncItems = this.counter({ name: 'btc_ts_sync_items_total', help: 'Objects copied from the local cache to the primary by sync' });
  readonly syncBytes = this.counter({ name: 'btc_ts_sync_bytes_total', help: 'Bytes copied from the local cache to the primary by sync' });
  readonly syncDuration = this.histogram({
    name: 'btc_ts_sync_duration_seconds',
    help: 'Run time of sync runs (dry runs excluded), by result ok or failed',
    labelNames: ['result'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
  });
  readonly alertOpen = this.gauge({ name: 'btc_ts_alert_open', help: 'Open alert incidents of this runtime by rule', labelNames: ['rule'] });

  private lastLeaseEpoch = 0;
  private readonly streamLastOk = new Map<string, { labels: StreamLabels; atMs: number }>();
  private streamStatusRows: (() => Array<StreamLabels & { last_ok_ms: number | null }>) | undefined;
  private readonly now: () => number;

  /**
   * `defaults`: also prom-client's process metrics (default true). `lazy` (one-shot commands):
   * prom-client is not loaded until the registry is read (or MAX_PENDING_CALLS calls wait); until
   * then each call is kept and then replayed, so what the registry then shows is what an eager
   * Metrics would show (the process metrics, with `defaults`, only from then on). Default false:
   * `runtime start` loads it at once. A call prom-client refuses (a label it does not know) throws
   * at that replay instead of at the call.
   */
  constructor(options: { defaults?: boolean; now?: () => number; lazy?: boolean } = {}) {
    this.now = options.now ?? Date.now;
    this.defaults = options.defaults !== false;
    if (!options.lazy) this.load();
  }

  /** The prom-client registry of these metrics (loads prom-client first when it is not yet). */
  get registry(): Registry {
    this.load();
    return this.realRegistry!;
  }

  /** Whether prom-client is loaded (a lazy Metrics nobody read has not). */
  get loaded(): boolean {
    return this.prom !== null;
  }

  /** @internal A call of a metric before prom-client is loaded (PendingMetric). */
  keep(metric: PendingMetric, method: Method, args: unknown[]): void {
    this.pendingCalls.push({ metric, method, args });
    if (this.pendingCalls.length >= MAX_PENDING_CALLS) this.load();
  }

  private counter<T extends string>(config: Omit<CounterConfiguration<T>, 'registers'>): CounterMetric<T> {
    return this.pending('counter', config as Config) as unknown as CounterMetric<T>;
  }

  private gauge<T extends string>(config: Omit<GaugeConfiguration<T>, 'registers'>): GaugeMetric<T> {
    return this.pending('gauge', config as Config) as unknown as GaugeMetric<T>;
  }

  private histogram<T extends string>(config: Omit<HistogramConfiguration<T>, 'registers'>): HistogramMetric<T> {
    return this.pending('histogram', config as Config) as unknown as HistogramMetric<T>;
  }

  private pending(kind: Kind, config: Config): PendingMetric {
    const metric = new PendingMetric(this, kind, config);
    this.pendingMetrics.push(metric);
    return metric;
  }

  /**
   * Loads prom-client (synchronously: it is CommonJS), makes the real metrics in the order they are
   * declared (the order /metrics lists them), replays the kept calls, and puts each real metric in
   * its field so later calls go straight to it. Does nothing the second time.
   */
  private load(): void {
    if (this.prom) return;
    const prom = createRequire(import.meta.url)('prom-client') as typeof PromClient;
    const registry = new prom.Registry();
    const make = { counter: prom.Counter, gauge: prom.Gauge, histogram: prom.Histogram };
    for (const metric of this.pendingMetrics) {
      metric.target = new make[metric.kind]({ ...metric.config, registers: [registry] } as never) as unknown as PendingMetric['target'];
    }
    this.prom = prom;
    this.realRegistry = registry;
    const calls = this.pendingCalls;
    this.pendingCalls = [];
    // A call prom-client refuses (an unknown label) would have thrown at its call site; kept, it is
    // thrown here, after every other call is replayed and the metrics are in place.
    let firstError: unknown = null;
    for (const { metric, method, args } of calls) {
      try {
        metric.target![method](...args);
      } catch (err) {
        firstError ??= err;
      }
    }
    const fields = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (value instanceof PendingMetric) fields[key] = value.target;
    }
    if (this.defaults) prom.collectDefaultMetrics({ register: registry, prefix: 'btc_ts_' });
    if (firstError) throw firstError;
  }

  /** Called by the collector per fetch: records appended and, when the fetch succeeded, when. */
  recordStream(stream: StreamLabels, update: { records?: number; okAtMs?: number }): void {
    const labels = { exchange: stream.exchange, topic: stream.topic, symbol: stream.symbol };
    if (update.records) this.streamRecords.inc(labels, update.records);
    if (update.okAtMs !== undefined) {
      const key = `${labels.exchange}|${labels.topic}|${labels.symbol}`;
      const prev = this.streamLastOk.get(key)?.atMs ?? -Infinity;
      this.streamLastOk.set(key, { labels, atMs: Math.max(prev, update.okAtMs) });
    }
  }

  /** Also read last-ok times from the status rows (collect-tick writes last_ok_ms there anyway). */
  useStreamStatus(rows: () => Array<StreamLabels & { last_ok_ms: number | null }>): void {
    this.streamStatusRows = rows;
  }

  /** Called by sync (or anything that measures the cache): what still waits for the primary. */
  setSyncBacklog(objects: number, bytes: number): void {
    this.syncBacklogObjects.set(objects);
    this.syncBacklogBytes.set(bytes);
  }

  /** A primary → cache or cache → primary switch of the router (the label says `secondary`, the contract's name). */
  recordStorageSwitch(from: string, to: string): void {
    this.storageSwitches.inc({ direction: `${from}_to_${to}` });
  }

  /**
   * The lease epoch as this runtime sees it: each rise counts as leader changes (by how much it
   * rose, so an epoch missed in between still counts). The first epoch seen is the baseline.
   */
  /** `collector.shards` > 1: which shards this runtime holds (1/0) and each shard's epoch as last seen. */
  readonly shardHolder = this.gauge({ name: 'btc_ts_shard_holder', help: '1 when this runtime holds the lease of the shard', labelNames: ['shard'] });
  readonly shardEpoch = this.gauge({ name: 'btc_ts_shard_epoch', help: 'Epoch of the shard lease as last seen', labelNames: ['shard'] });

  /** One shard's lease as this runtime sees it (runtime/leader/shard-status.ts). */
  noteShard(shard: number, holder: boolean, epoch: number): void {
    this.shardHolder.set({ shard: String(shard) }, holder ? 1 : 0);
    this.shardEpoch.set({ shard: String(shard) }, epoch);
  }

  noteLeaseEpoch(epoch: number): void {
    if (epoch > this.lastLeaseEpoch && this.lastLeaseEpoch > 0) this.leaderChanges.inc(epoch - this.lastLeaseEpoch);
    if (epoch > this.lastLeaseEpoch) this.lastLeaseEpoch = epoch;
  }

  /** One finished (not dry) sync run. */
  recordSync(run: { ok: boolean; items: number; bytes: number; elapsedMs: number }): void {
    if (run.items) this.syncItems.inc(run.items);
    if (run.bytes) this.syncBytes.inc(run.bytes);
    this.syncDuration.observe({ result: run.ok ? 'ok' : 'failed' }, run.elapsedMs / 1000);
  }

  /** Open incidents per rule (every known rule is set, 0 when none is open). */
  setOpenAlerts(counts: Record<string, number>): void {
    for (const [rule, n] of Object.entries(counts)) this.alertOpen.set({ rule }, n);
  }

  recordDashboardExport(run: { ok: boolean; sequence: number | null; atMs: number; rows: Record<string, number> }): void {
    this.dashboardExports.inc({ result: run.ok ? 'ok' : 'error' });
    if (run.sequence !== null) this.dashboardSequence.set(run.sequence);
    if (run.ok) this.dashboardLastSuccess.set(run.atMs / 1000);
    for (const [dataset, rows] of Object.entries(run.rows)) this.dashboardRows.set({ dataset }, rows);
  }

  /** After a capacity check: bytes used, growth per day, and days until full when the capacity is configured. */
  recordCapacity(report: { total_bytes: number; growth_bytes_per_day: number; days_until_full: number | null }): void {
    this.storageUsedBytes.set(report.total_bytes);
    this.storageGrowthBytes.set(report.growth_bytes_per_day);
    if (report.days_until_full === null) this.storageDaysUntilFull.reset();
    else this.storageDaysUntilFull.set(report.days_until_full);
  }

  private collectStreamAges(): void {
    const latest = new Map(this.streamLastOk);
    for (const row of this.streamStatusRows?.() ?? []) {
      if (row.last_ok_ms === null) continue;
      const key = `${row.exchange}|${row.topic}|${row.symbol}`;
      if ((latest.get(key)?.atMs ?? -Infinity) < row.last_ok_ms) {
        latest.set(key, { labels: { exchange: row.exchange, topic: row.topic, symbol: row.symbol }, atMs: row.last_ok_ms });
      }
    }
    const now = this.now();
    for (const { labels, atMs } of latest.values()) this.streamLastOkAge.set(labels, Math.max(0, (now - atMs) / 1000));
  }

  observeRun(fn: string, source: string, result: 'ok' | 'error', ms: number): void {
    this.fnRuns.inc({ fn, source, result });
    if (result === 'error') this.fnErrors.inc({ fn });
    this.fnDuration.observe({ fn }, ms / 1000);
  }
}
