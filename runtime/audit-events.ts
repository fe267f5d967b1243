// runtime/audit-events.ts
// Every audit event this system records, name → payload type: a misspelt event or payload is a type error at each record() (documented in docs/audit-events.md).

/** `null` where a call has no value for the field (the JSON line keeps the key). */
type Maybe<T> = T | null;

/** The stream fields most collector events start with. */
type StreamFields = {
  exchange: string;
  topic: string;
  symbol: string;
  epoch: number;
};

/** A lease change of one holder; `shard` is set when the lease is one shard's (runtime/leader/shards.ts). */
type LeaseFields = {
  host: Maybe<string>;
  epoch: Maybe<number>;
  shard?: number;
};

/** The time a paused holder's process was suspended (runtime/lease-pause.ts suspendedRange). */
type SuspendedFields = {
  suspended_from?: Maybe<string>;
  suspended_to?: Maybe<string>;
};

/** How an alert reached its webhooks (runtime/alerts/incidents.ts). */
export type AlertDeliveryFields = {
  delivery: string;
  targets: number;
  results?: Array<{ url: string; ok: boolean; http_status: Maybe<number>; attempts: number; latency_ms: number }>;
};

/** The totals of a sync run (runtime/sync/engine.ts). */
type SyncTotals = {
  items: number;
  bytes: number;
  elapsed_ms: number;
  uploaded: number;
  already_present: number;
  atomic: unknown;
  conflicts: number;
  issues: number;
  dry_run: boolean;
  would_copy?: unknown;
  throttled?: unknown;
};

/** Added to a stream fetch's event when it is recorded on commit. */
type OnCommit = { topic: string; epoch: number };

/**
 * The events a stream fetch returns (runtime/collector/topics.ts, trades.ts), without the
 * `topic` and `epoch` that runtime/collector/fetch-stream.ts and ws/ohlcv.ts add on commit.
 */
type FetchPayloads = {
  'collector.book.anomaly': { exchange: string; symbol: string; kind: string; ts: number; [extra: string]: unknown };
  'collector.gap.detected': {
    exchange: string;
    symbol: string;
    count: number;
    /** Trades: the first and last missing id. */
    from?: number;
    to?: number;
    /** OHLCV: the candle windows without candles. */
    timeframe?: string;
    reason?: string;
    from_ts?: number;
    to_ts?: number;
    missing_open_times?: number[];
  };
  'collector.gap.filled': { exchange: string; symbol: string; from: number; to: number; count: number; attempts: number };
  'collector.gap.suspected': { exchange: string; symbol: string; from_ts: number; to_ts: number; reason: string; paging: string };
  'collector.gap.unfillable': { exchange: string; symbol: string; from: number; to: number; count: number; attempts: number; reason: string };
  'collector.trade.conflict': { exchange: string; symbol: string; kind: string; id: number; ts: number; data: unknown; [extra: string]: unknown };
};

/**
 * The table: event name → payload. Optional fields are those some calls leave out; every
 * record(...) is checked against it. Adding an event: add it here and to docs/audit-events.md
 * (test/audit-events.test.ts checks both ways).
 */
export interface AuditEvents {
  'alert.fire': AlertDeliveryFields & { rule: string; key: string; summary: string; since: string; details: Record<string, unknown> };
  'alert.resolve': AlertDeliveryFields & { rule: string; key: string; why: string; since: string; opened_at: string; lasted_ms: number };
  'alert.test': AlertDeliveryFields;
  'audit.events_dropped': { count: number };
  'audit.segment.torn': { torn_bytes: number; good_records: number; next_seq: number };
  'collector.book.anomaly': FetchPayloads['collector.book.anomaly'] & OnCommit;
  'collector.clock.skew': { state: 'over' | 'back'; skew_ms: number; limit_ms: number; store: string };
  'collector.diag.enter': { streams: unknown[] };
  'collector.diag.exit': { healthy_ticks: number };
  'collector.gap.detected': FetchPayloads['collector.gap.detected'] & OnCommit;
  'collector.gap.filled': FetchPayloads['collector.gap.filled'] & OnCommit;
  'collector.gap.suspected': FetchPayloads['collector.gap.suspected'] & OnCommit;
  'collector.gap.unfillable': FetchPayloads['collector.gap.unfillable'] & OnCommit;
  'collector.leader.acquire': LeaseFields & { reason: string; previous_host: Maybe<string>; previous_epoch: Maybe<number> };
  'collector.leader.degraded': LeaseFields & { reason: string; cause: unknown };
  'collector.leader.handover_request': LeaseFields & { to: string };
  'collector.leader.overlap': LeaseFields &
    SuspendedFields & { other_host: Maybe<string>; other_epoch: Maybe<number>; from: Maybe<string>; to: Maybe<string>; degraded_since: Maybe<string>; other_started_at: Maybe<string>; cause: unknown };
  'collector.leader.recovered': LeaseFields & { degraded_since: Maybe<string>; cause: unknown };
  'collector.leader.release': LeaseFields & { reason: string; cause?: unknown };
  'collector.leader.renew': LeaseFields & { reason: string; renews: number };
  'collector.leader.resumed': LeaseFields & SuspendedFields & { reason: string; paused_since: Maybe<string> };
  'collector.leader.stale_detected': LeaseFields & { reason: string; unchanged_ms: number; lease_ms: number };
  'collector.orderbook.resync': StreamFields & { reason: string; [extra: string]: unknown };
  'collector.segment.ship_failed': StreamFields & { cause: string; error: string };
  'collector.segment.torn': StreamFields & { torn_bytes: number; torn_preview: string; good_records: number; next_seq: number };
  'collector.segment.unreadable': StreamFields & { error: string };
  'collector.shards.agreed': { host: string; shards: number; reason: Maybe<string> | false };
  'collector.shards.preferred_conflict': { host: string; conflicts: unknown };
  'collector.shards.preferred_flap': { host: string; flaps: number; settle_ms: number; reason: string };
  'collector.shards.refused': { host: string; shards: number; reason: Maybe<string> | false };
  'collector.storage.conditional_writes': { primary: string; missing: unknown[]; stepped_down: boolean };
  'collector.storage.switch': { from: string; to: string; reason: string; cause: Maybe<string>; primary: string; secondary: string };
  'collector.stream.fresh': StreamFields & { stale_after_ms: number };
  'collector.stream.stale': StreamFields & { stale_after_ms: number };
  'collector.symbol.available': Omit<StreamFields, 'epoch'>;
  'collector.symbol.unavailable': Omit<StreamFields, 'epoch'> & { error: Maybe<string> };
  'collector.sync.chunk': { items: number; bytes: number; elapsed_ms: number; total_items: number };
  'collector.sync.complete': SyncTotals;
  'collector.sync.continuity': { count: number; issues: unknown[] };
  'collector.sync.failed':
    | (Partial<SyncTotals> & { reason: string; error?: string })
    | (Partial<StreamFields> & { reason: 'conflict'; stage: 'ship' | 'sync'; key: string; local_etag: Maybe<string> | undefined; remote_etag: Maybe<string> | undefined; kept_at?: string });
  'collector.sync.plan': { items: number; bytes: number; est_ms: number; streams: number; segments: number; audit_segments: number; atomic: number; dry_run: boolean; targets: string[] };
  'collector.sync.start': { items: number; bytes: number; elapsed_ms: number };
  'collector.trade.conflict': FetchPayloads['collector.trade.conflict'] & OnCommit;
  'collector.ws.backfill': StreamFields & { count: number; from_ts?: number; to_ts?: number; from?: number; to?: number };
  'collector.ws.reconnect': StreamFields & { reason: Maybe<string>; failures: number };
  'collector.ws.ticker_hole': StreamFields & { from_ts: number; to_ts: number };
  'compact.complete': { days: number; rows: number; dropped: number; raw_bytes: number; parquet_bytes: number; stream_days: string[] };
  'compact.failed': { error: string | undefined; stream?: string; date?: string; reason?: string };
  'dashboard.export.complete': { job_id: string; sequence: number | undefined; datasets: Array<{ name: string; rows: number | undefined }>; elapsed_ms: number };
  'dashboard.export.failed': { job_id: Maybe<string>; error_code: Maybe<string>; errors: unknown[]; sequence?: Maybe<number> };
  'dashboard.history.prune': { job_id: string; jobs: string[]; objects: number; bytes: number; log_key: Maybe<string> };
  'dashboard.verify.complete': { failures: string[]; warnings: string[]; automation_sequence: Maybe<number> };
  'dashboard.verify.failed': { failures: string[]; warnings: string[]; automation_sequence: Maybe<number> };
  'handover.bundle.create': { actor: string; site: string; session: string; key: string; bytes: number; sha256: string; files: number; restore_point: Maybe<string>; stored_in: 'cache' | 'primary' };
  'incident.make': { id: string; from: string; to: string; streams: string[]; objects: number };
  'quality.report': { date: string; status: string; threshold: number; below: string[]; coverage: Record<string, unknown>; gaps: unknown; alert: string };
  'retention.delete': { raw_days: Maybe<number>; parquet_days: Maybe<number>; objects: number; bytes: number; kept_unverified: unknown; groups: unknown[] };
  'runtime.diag.enter': { reasons: unknown[] };
  'runtime.diag.exit': { cleared: string; why: string; lasted_ms: number };
  'runtime.diag.reason': { reasons: string[]; added?: string; detail?: string; cleared?: string; why?: string; lasted_ms?: number };
  'runtime.host.duplicate': { host: string; self: unknown; other: unknown };
  'runtime.mode.change': { from: string; to: string; reason: string };
  'state.archive.prune': { keep: number; removed: number; prefixes: string[] };
  'state.override.change': { from: string; to: string; reason: Maybe<string> | undefined; key: string };
  'ui.sync.retry': { host: string };
  'state.update.decision': {
    strategy: string;
    symbol: string;
    mode: string;
    status: string;
    reasons: string[];
    anomalies: string[];
    fills_new: number;
    simulate_live: boolean | undefined;
    reset: boolean | undefined;
    archive_key: Maybe<string>;
    config_fingerprint: string;
    [target: string]: unknown;
  };
}

export type AuditEventName = keyof AuditEvents;

/** The payload of one event. */
export type AuditPayload<E extends AuditEventName> = AuditEvents[E];

/** `record` of every audit trail (AuditLog, StoreAudit, a shard's wrapper): the event and its payload, checked against the table. */
export type RecordAudit = <E extends AuditEventName>(event: E, payload: AuditEvents[E]) => Promise<void>;

/**
 * An event a stream fetch returns, recorded on commit with the stream's `topic` and `epoch` added
 * (runtime/collector/fetch-stream.ts, runtime/collector/ws/ohlcv.ts). The payload reads by any field name.
 */
export type FetchEvent = { [E in keyof FetchPayloads]: { event: E; payload: FetchPayloads[E] & Record<string, unknown> } }[keyof FetchPayloads];

/** Every name in the table, at run time (the record forces every key and no other). */
const NAMES: { [E in AuditEventName]: true } = {
  'alert.fire': true,
  'alert.resolve': true,
  'alert.test': true,
  'audit.events_dropped': true,
  'audit.segment.torn': true,
  'collector.book.anomaly': true,
  'collector.clock.skew': true,
  'collector.diag.enter': true,
  'collector.diag.exit': true,
  'collector.gap.detected': true,
  'collector.gap.filled': true,
  'collector.gap.suspected': true,
  'collector.gap.unfillable': true,
  'collector.leader.acquire': true,
  'collector.leader.degraded': true,
  'collector.leader.handover_request': true,
  'collector.leader.overlap': true,
  'collector.leader.recovered': true,
  'collector.leader.release': true,
  'collector.leader.renew': true,
  'collector.leader.resumed': true,
  'collector.leader.stale_detected': true,
  'collector.orderbook.resync': true,
  'collector.segment.ship_failed': true,
  'collector.segment.torn': true,
  'collector.segment.unreadable': true,
  'collector.shards.agreed': true,
  'collector.shards.preferred_conflict': true,
  'collector.shards.preferred_flap': true,
  'collector.shards.refused': true,
  'collector.storage.conditional_writes': true,
  'collector.storage.switch': true,
  'collector.stream.fresh': true,
  'collector.stream.stale': true,
  'collector.symbol.available': true,
  'collector.symbol.unavailable': true,
  'collector.sync.chunk': true,
  'collector.sync.complete': true,
  'collector.sync.continuity': true,
  'collector.sync.failed': true,
  'collector.sync.plan': true,
  'collector.sync.start': true,
  'collector.trade.conflict': true,
  'collector.ws.backfill': true,
  'collector.ws.reconnect': true,
  'collector.ws.ticker_hole': true,
  'compact.complete': true,
  'compact.failed': true,
  'dashboard.export.complete': true,
  'dashboard.export.failed': true,
  'dashboard.history.prune': true,
  'dashboard.verify.complete': true,
  'dashboard.verify.failed': true,
  'handover.bundle.create': true,
  'incident.make': true,
  'quality.report': true,
  'retention.delete': true,
  'runtime.diag.enter': true,
  'runtime.diag.exit': true,
  'runtime.diag.reason': true,
  'runtime.host.duplicate': true,
  'runtime.mode.change': true,
  'state.archive.prune': true,
  'state.override.change': true,
  'state.update.decision': true,
  'ui.sync.retry': true,
};

/** Every audit event name, sorted. */
export const AUDIT_EVENT_NAMES: readonly AuditEventName[] = (Object.keys(NAMES) as AuditEventName[]).sort();
