// runtime/keys.ts
// The bucket layout as code: every object key and prefix the runtime writes, lists or parses (docs CONTRACT "Objects").

import { isoDate } from './clock.ts';
import { isTopic, type StreamRef, type Topic } from './lake/layout.ts';
import type { StateTarget } from './state/model.ts';
import type { StreamId } from './streams.ts';

// Every key is the same in the primary bucket and in the local cache. Nothing outside this file
// writes a bucket-prefix literal (test/keys.test.ts scans runtime/ and functions/ for one).

/** `000042` for width 6: key numbers are zero-padded to a minimum width (a bigger number still fits). */
const pad = (n: number, width: number) => String(n).padStart(width, '0');

// ---------------------------------------------------------------------------------------------
// Top-level prefixes

/** `raw/`: the raw segments of every stream. */
export const RAW_PREFIX = 'raw/';
/** `audit/`: the audit trail's segments. */
export const AUDIT_PREFIX = 'audit/';
/** `collector/`: the collector's own objects (status, cursors); preflight lists it to prove read access. */
export const COLLECTOR_PREFIX = 'collector/';
/** `collector/status/`: one status object per host. */
export const STATUS_PREFIX = 'collector/status/';
/** `collector/cursors/`: one paging cursor per stream. */
export const CURSOR_PREFIX = 'collector/cursors/';
/** `locks/`: leases and membership heartbeats (primary only, never synced). */
export const LOCKS_PREFIX = 'locks/';
/** `health/`: probe objects (storage probe, clock probe, conditional-write probe); never synced. */
export const HEALTH_PREFIX = 'health/';
/** `conflicts/`: where the cache keeps a segment whose key holds other bytes in the primary; never synced. */
export const CONFLICTS_PREFIX = 'conflicts/';
/** `latest/`: the latest snapshot of each stream as CSV. */
export const LATEST_PREFIX = 'latest/';
/** `quality/`: the daily data-quality reports. */
export const QUALITY_PREFIX = 'quality/';
/** `parquet/`: compacted stream-days (Hive partitions). */
export const PARQUET_PREFIX = 'parquet/';
/** `parquet-manifests/`: one manifest per compacted stream-day, beside the Parquet tree. */
export const PARQUET_MANIFESTS_PREFIX = 'parquet-manifests/';
/** `incidents/`: incident replay folders. */
export const INCIDENTS_PREFIX = 'incidents/';
/** `handoff/`: handoff bundles. */
export const HANDOFF_PREFIX = 'handoff/';
/** `state/`: the current state of each (strategy, symbol, mode). */
export const STATE_PREFIX = 'state/';
/** `state_archive/`: archived diffs and the override flag. */
export const STATE_ARCHIVE_PREFIX = 'state_archive/';
/** `runs/`: fills of the strategy runs that the state update reads. */
export const RUNS_PREFIX = 'runs/';
/** `dashboard/`: the dashboard export. */
export const DASHBOARD_PREFIX = 'dashboard/';

/** Keys sync never copies: probes, the lease (primary-only by design), segments kept aside after a conflict. */
export const NOT_SYNCED_PREFIXES = [HEALTH_PREFIX, LOCKS_PREFIX, CONFLICTS_PREFIX] as const;

// ---------------------------------------------------------------------------------------------
// Streams and raw segments

/** `BTC/USDT:USDT` → `BTC-USDT_USDT`: the SYMBOL part of object keys (ccxt symbol, `/` → `-`, `:` → `_`). */
export function symbolKey(symbol: string): string {
  return symbol.replace(/\//g, '-').replace(/:/g, '_');
}

/** `raw/<exchange>/<topic>/<SYMBOL>/`, e.g. `raw/binance/trades/BTC-USDT/`: one stream's raw folder. */
export function streamPrefix(id: StreamId): string {
  return `${RAW_PREFIX}${id.exchange}/${id.topic}/${symbolKey(id.symbol)}/`;
}

/** raw/<exchange>/<topic>/<SYMBOL>/dt=<YYYY-MM-DD>/, e.g. `raw/binance/trades/BTC-USDT/dt=2026-01-01/`: one stream-day's raw segments. */
export function streamDayPrefix(id: StreamId, date: string): string {
  return `${streamPrefix(id)}dt=${date}/`;
}

/**
 * `<prefix>dt=<date>` without the closing slash, e.g. `raw/binance/trades/BTC-USDT/dt=2026-01-01`:
 * a listing bound that sorts just before that day's keys (and `<prefix>dt=` for date '': the prefix of every day).
 */
export function datePartitionStart(prefix: string, date = ''): string {
  return `${prefix}dt=${date}`;
}

/** `raw/<stream>/` for a stream named as in keys (`binance/trades/BTC-USDT` → `raw/binance/trades/BTC-USDT/`). */
export function rawStreamPrefix(stream: string): string {
  return `${RAW_PREFIX}${stream}/`;
}

/** `raw/<stream>/dt=<YYYY-MM-DD>/` for a stream named as in keys, e.g. `raw/binance/trades/BTC-USDT/dt=2026-01-01/`. */
export function rawStreamDayPrefix(stream: string, date: string): string {
  return `${RAW_PREFIX}${stream}/dt=${date}/`;
}

/** raw/<exchange>/<topic>/<SYMBOL>/dt=<date>/ — where the raw segments of one stream and key date live, e.g. `raw/binance/trades/BTC-USDT/dt=2026-01-01/`. */
export function rawDayPrefix(s: StreamRef, date: string): string {
  return `${RAW_PREFIX}${s.exchange}/${s.topic}/${s.symbol}/dt=${date}/`;
}

/**
 * raw/<exchange>/<topic>/<SYMBOL>/dt=<YYYY-MM-DD>/<epoch:6>-<firstSeq:12>.jsonl, the date being the
 * UTC day of `firstTs` (ms), e.g. `raw/binance/trades/BTC-USDT/dt=2026-01-01/000003-000000000001.jsonl`.
 */
export function rawSegmentKey(id: StreamId, epoch: number, firstSeq: number, firstTs: number): string {
  return `${streamPrefix(id)}dt=${isoDate(firstTs)}/${pad(epoch, 6)}-${pad(firstSeq, 12)}.jsonl`;
}

/** What a raw segment key says: the inverse of rawSegmentKey. */
export interface RawSegmentKey {
  key: string;
  /** `<exchange>/<topic>/<SYMBOL>`: the stream, as in keys. */
  stream: string;
  exchange: string;
  topic: string;
  /** SYMBOL as in the key (`BTC-USDT`). */
  symbol: string;
  date: string;
  epoch: number;
  firstSeq: number;
}

// Padding is a minimum: an epoch past 999999 or a seq past 12 digits still parses.
const RAW_SEGMENT_KEY = /^raw\/([^/]+)\/([^/]+)\/([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/(\d{6,})-(\d{12,})\.jsonl$/;

/** The parts of a raw segment key (`raw/binance/trades/BTC-USDT/dt=2026-01-01/000003-000000000001.jsonl`); null for any other key. */
export function parseRawSegmentKey(key: string): RawSegmentKey | null {
  const m = RAW_SEGMENT_KEY.exec(key);
  if (!m) return null;
  const [, exchange, topic, symbol, date, epoch, firstSeq] = m as unknown as string[];
  return { key, stream: `${exchange}/${topic}/${symbol}`, exchange: exchange!, topic: topic!, symbol: symbol!, date: date!, epoch: Number(epoch), firstSeq: Number(firstSeq) };
}

const RAW_STREAM_SPLIT = /^(raw\/[^/]+\/[^/]+\/[^/]+\/)(.+)$/;

/**
 * A key under a stream's raw folder split into that folder and the rest:
 * `raw/binance/trades/BTC-USDT/dt=2026-01-01/000003-000000000001.jsonl` →
 * `['raw/binance/trades/BTC-USDT/', 'dt=2026-01-01/000003-000000000001.jsonl']`; null for any other key.
 */
export function splitRawStreamKey(key: string): [prefix: string, rest: string] | null {
  const m = RAW_STREAM_SPLIT.exec(key);
  return m ? [m[1]!, m[2]!] : null;
}

/** collector/cursors/<exchange>/<topic>/<SYMBOL>.json, e.g. `collector/cursors/binance/trades/BTC-USDT.json`: a stream's paging cursor. */
export const cursorKey = (id: StreamId) => `${CURSOR_PREFIX}${id.exchange}/${id.topic}/${symbolKey(id.symbol)}.json`;

/** latest/<exchange>/<topic>/<SYMBOL>.csv, e.g. `latest/binance/ticker/BTC-USDT.csv`: a stream's latest snapshot. */
export const latestKey = (t: StreamId) => `${LATEST_PREFIX}${t.exchange}/${t.topic}/${symbolKey(t.symbol)}.csv`;

/** latest/<stream>.csv for a stream named as in keys (`binance/ticker/BTC-USDT` → `latest/binance/ticker/BTC-USDT.csv`). */
export const latestStreamKey = (stream: string) => `${LATEST_PREFIX}${stream}.csv`;

// ---------------------------------------------------------------------------------------------
// Audit trail

/** audit/dt=<YYYY-MM-DD>/<host>-<firstSeq:12>.jsonl (UTC day of `firstTs`, ms), e.g. `audit/dt=2026-01-01/pc1-000000000001.jsonl`. */
export function auditSegmentKey(host: string, firstTs: number, firstSeq: number): string {
  return `${auditDayPrefix(isoDate(firstTs))}${host}-${pad(firstSeq, 12)}.jsonl`;
}

/** audit/dt=<YYYY-MM-DD>/, e.g. `audit/dt=2026-01-01/`: every host's audit segments of one day. */
export const auditDayPrefix = (date: string) => `${AUDIT_PREFIX}dt=${date}/`;

const AUDIT_SEGMENT_KEY = /^audit\/dt=(\d{4}-\d{2}-\d{2})\/(.+)-(\d{12,})\.jsonl$/;

/** The parts of an audit segment key (`audit/dt=2026-01-01/pc1-000000000001.jsonl`); null for any other key. */
export function parseAuditSegmentKey(key: string): { date: string; host: string; firstSeq: number } | null {
  const m = AUDIT_SEGMENT_KEY.exec(key);
  return m ? { date: m[1]!, host: m[2]!, firstSeq: Number(m[3]) } : null;
}

// ---------------------------------------------------------------------------------------------
// Status, leases, membership, probes

/** collector/status/<host>.json, e.g. `collector/status/pc1.json`: one host's status object. */
export const statusKey = (host: string) => `${STATUS_PREFIX}${host}.json`;

/** The host of a status key (`collector/status/pc1.json` → `pc1`); null for any other key. */
export function parseStatusKey(key: string): string | null {
  return key.startsWith(STATUS_PREFIX) && key.endsWith('.json') && key.length > STATUS_PREFIX.length + 5 ? key.slice(STATUS_PREFIX.length, -'.json'.length) : null;
}

/** `locks/collector.leader`: the collector lease of `collector.shards: 1`. */
export const LEASE_KEY = 'locks/collector.leader';

/** locks/collector.shard-<k>, e.g. `locks/collector.shard-2`: lease object of shard k (`collector.shards` > 1); shard leases never use LEASE_KEY. */
export const shardLeaseKey = (shard: number) => `${LOCKS_PREFIX}collector.shard-${shard}`;

/** `locks/collector.members/`: one heartbeat object per runtime, rewritten at every beat. */
export const MEMBERS_PREFIX = 'locks/collector.members/';

/** locks/collector.members/<host>.json, e.g. `locks/collector.members/pc1.json`. */
export const memberKey = (host: string) => `${MEMBERS_PREFIX}${host}.json`;

/** The host of a membership key (`locks/collector.members/pc1.json` → `pc1`); keys outside MEMBERS_PREFIX give null. */
export function parseMemberKey(key: string): string | null {
  return key.startsWith(MEMBERS_PREFIX) ? key.slice(MEMBERS_PREFIX.length).replace(/\.json$/, '') : null;
}

/** health/probe-<host>, e.g. `health/probe-pc1`: the storage router's probe object. */
export const storageProbeKey = (host: string) => `${HEALTH_PREFIX}probe-${host}`;

/** health/clock-<host>, e.g. `health/clock-pc1`: preflight's clock probe (the primary's Last-Modified vs this clock). */
export const clockProbeKey = (host: string) => `${HEALTH_PREFIX}clock-${host}`;

/** health/cas-<host>, e.g. `health/cas-pc1`: the conditional-writes probe; never the lease, a segment or the storage probe's key, so it races nobody. */
export function conditionalWritesKey(host: string): string {
  return `${HEALTH_PREFIX}cas-${host}`;
}

/** conflicts/<key>, e.g. `conflicts/raw/binance/trades/BTC-USDT/dt=2026-01-01/000003-000000000001.jsonl`: a cached segment kept aside. */
export const conflictKey = (key: string) => `${CONFLICTS_PREFIX}${key}`;

// ---------------------------------------------------------------------------------------------
// Data quality

/** quality/dt=<YYYY-MM-DD>/summary.json, e.g. `quality/dt=2026-01-01/summary.json`. */
export const qualitySummaryKey = (date: string) => `${QUALITY_PREFIX}dt=${date}/summary.json`;
/** quality/dt=<YYYY-MM-DD>/gap_inventory.csv, e.g. `quality/dt=2026-01-01/gap_inventory.csv`. */
export const qualityInventoryKey = (date: string) => `${QUALITY_PREFIX}dt=${date}/gap_inventory.csv`;
/** Matches a summary key; group 1 is the date (`quality/dt=2026-01-01/summary.json` → `2026-01-01`). */
export const QUALITY_SUMMARY_PATTERN = /^quality\/dt=(\d{4}-\d{2}-\d{2})\/summary\.json$/;

// ---------------------------------------------------------------------------------------------
// Compacted data (layout in docs/data.md)

/**
 * parquet/<topic>/exchange=<ex>/symbol=<SYMBOL>/dt=<date>/<ex>-<SYMBOL>-<date>.parquet (Hive partitions: any engine prunes by them),
 * e.g. `parquet/trades/exchange=binance/symbol=BTC-USDT/dt=2026-01-01/binance-BTC-USDT-2026-01-01.parquet`.
 */
export function parquetKey(s: StreamRef, date: string): string {
  return `${PARQUET_PREFIX}${s.topic}/exchange=${s.exchange}/symbol=${s.symbol}/dt=${date}/${s.exchange}-${s.symbol}-${date}.parquet`;
}

const PARQUET_KEY = /^parquet\/([^/]+)\/exchange=([^/]+)\/symbol=([^/]+)\/dt=(\d{4}-\d{2}-\d{2})\/[^/]+\.parquet$/;

/** The stream (as named in keys, `<ex>/<topic>/<SYMBOL>`) and date of a Parquet object key; null for any other key. */
export function parseParquetKey(key: string): { stream: string; topic: string; exchange: string; symbol: string; date: string } | null {
  const m = PARQUET_KEY.exec(key);
  if (!m) return null;
  return { stream: `${m[2]}/${m[1]}/${m[3]}`, topic: m[1]!, exchange: m[2]!, symbol: m[3]!, date: m[4]! };
}

/**
 * parquet-manifests/<topic>/<ex>/<SYMBOL>/<date>.json, e.g. `parquet-manifests/trades/binance/BTC-USDT/2026-01-01.json`:
 * beside, not inside, the Parquet tree, so engines that read every object of a partition (Athena,
 * Spark) never meet a non-Parquet file.
 */
export function manifestKey(s: StreamRef, date: string): string {
  return `${PARQUET_MANIFESTS_PREFIX}${s.topic}/${s.exchange}/${s.symbol}/${date}.json`;
}

const MANIFEST_KEY_RE = /^parquet-manifests\/([a-z]+)\/([^/]+)\/([^/]+)\/(\d{4}-\d{2}-\d{2})\.json$/;

/** The stream-day of a manifest key; null for any other key or an unknown topic. */
export function parseManifestKey(key: string): { stream: StreamRef; date: string } | null {
  const m = MANIFEST_KEY_RE.exec(key);
  if (!m || !isTopic(m[1]!)) return null;
  return { stream: { topic: m[1] as Topic, exchange: m[2]!, symbol: m[3]! }, date: m[4]! };
}

// ---------------------------------------------------------------------------------------------
// Incidents and handoff

/** incidents/<id>/, e.g. `incidents/inc-1/`: one incident folder (incident.json, replay_params.json, replay_notes.md, artifacts/…). */
export const incidentPrefix = (id: string) => `${INCIDENTS_PREFIX}${id}/`;

/** incidents/<id>/<file> for the folder's own files, e.g. `incidents/inc-1/replay_params.json`. */
export const incidentKey = (id: string, file: 'incident.json' | 'replay_params.json' | 'replay_notes.md') => `${incidentPrefix(id)}${file}`;

/** incidents/<id>/incident.json, e.g. `incidents/inc-1/incident.json`: written last, so its presence means the folder is complete. */
export const incidentDocKey = (id: string) => incidentKey(id, 'incident.json');

/** incidents/<id>/artifacts/<file>, e.g. `incidents/inc-1/artifacts/binance-trades-BTC-USDT.parquet`. */
export const incidentArtifactKey = (id: string, file: string) => `${incidentPrefix(id)}artifacts/${file}`;

const INCIDENT_DOC_KEY = /^incidents\/([^/]+)\/incident\.json$/;

/** The incident id of an incident.json key (`incidents/inc-1/incident.json` → `inc-1`); null for any other key. */
export function parseIncidentDocKey(key: string): string | null {
  return INCIDENT_DOC_KEY.exec(key)?.[1] ?? null;
}

/** handoff/<file>, e.g. `handoff/Handoff_20260101_0930.zip`: a handoff bundle. */
export const handoffKey = (file: string) => `${HANDOFF_PREFIX}${file}`;

/** The file name of a handoff key (`handoff/Handoff_20260101_0930.zip` → `Handoff_20260101_0930.zip`); other keys unchanged. */
export const handoffFileName = (key: string) => (key.startsWith(HANDOFF_PREFIX) ? key.slice(HANDOFF_PREFIX.length) : key);

/** A handoff bundle named by key or by file: `handoff/Handoff_20260101_0930.zip` or `Handoff_20260101_0930_2.zip`. */
export const HANDOFF_KEY_PATTERN = /^(handoff\/)?Handoff_[0-9_]+\.zip$/;

// ---------------------------------------------------------------------------------------------
// State (seed 003)

const triple = (t: StateTarget) => `${t.strategy}/${t.symbol}/${t.mode}`;

/** state/<strategy>/<symbol>/<mode>/state.json, e.g. `state/mm/BTC-USDT/live/state.json`. */
export const stateKey = (t: StateTarget) => `${STATE_PREFIX}${triple(t)}/state.json`;

/** runs/<strategy>/<symbol>/<mode>/, e.g. `runs/mm/BTC-USDT/live/`: the fills a state update reads. */
export const runsPrefix = (t: StateTarget) => `${RUNS_PREFIX}${triple(t)}/`;

/** state_archive/<strategy>/<symbol>/<mode>/, e.g. `state_archive/mm/BTC-USDT/live/`. */
export const archivePrefix = (t: StateTarget) => `${STATE_ARCHIVE_PREFIX}${triple(t)}/`;

/** `state_archive/auto_adjust_override.json`: the override flag. */
export const OVERRIDE_KEY = 'state_archive/auto_adjust_override.json';

/**
 * state_archive/<strategy>/<symbol>/<mode>/<YYYYMMDDTHHMMSSmmmZ>_diff.json (UTC, so name order is time order),
 * e.g. `state_archive/mm/BTC-USDT/live/20260101T093000123Z_diff.json`.
 */
export function archiveKey(t: StateTarget, atMs: number): string {
  const stamp = new Date(atMs).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${archivePrefix(t)}${stamp}_diff.json`;
}

/** Matches an archived diff key; groups: strategy, symbol, mode, `<ts>`. */
export const ARCHIVE_KEY_PATTERN = /^state_archive\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)_diff\.json$/;
/** Matches a current state key; groups: strategy, symbol, mode. */
export const STATE_KEY_PATTERN = /^state\/([^/]+)\/([^/]+)\/([^/]+)\/state\.json$/;

// ---------------------------------------------------------------------------------------------
// Dashboard export

/** `dashboard/manifest.json`. */
export const MANIFEST_KEY = 'dashboard/manifest.json';
/** `dashboard/heartbeat.json`. */
export const HEARTBEAT_KEY = 'dashboard/heartbeat.json';
/** `dashboard/history/`: one folder per export job. */
export const HISTORY_PREFIX = 'dashboard/history/';
/** `dashboard/archive_manifest/`: one object per pruning run listing every history object it removed (the archive manifest stream). */
export const ARCHIVE_MANIFEST_PREFIX = 'dashboard/archive_manifest/';
/** `dashboard/automation_log/`: the automation log, one object per entry, named by its gap-free sequence. */
export const AUTOMATION_LOG_PREFIX = 'dashboard/automation_log/';
/** `dashboard/automation_log/sequence.json`: highest sequence ever issued and the gaps already reported (the seed's automation_runs.sequence). */
export const AUTOMATION_SEQUENCE_KEY = 'dashboard/automation_log/sequence.json';

/** dashboard/<dataset>.json, e.g. `dashboard/latency.json`. */
export const datasetKey = (name: string) => `${DASHBOARD_PREFIX}${name}.json`;
/** dashboard/history/<job_id>/<file>, e.g. `dashboard/history/20260101T050000Z-pc1/latency.json`. */
export const historyKey = (jobId: string, file: string) => `${HISTORY_PREFIX}${jobId}/${file}`;
/** dashboard/index/<dataset>.json, e.g. `dashboard/index/latency.json`: what the incremental recompute already covered (raw object key → etag and buckets). */
export const indexKey = (name: string) => `${DASHBOARD_PREFIX}index/${name}.json`;
/** The job id of a key under HISTORY_PREFIX (`dashboard/history/20260101T050000Z-pc1/latency.json` → `20260101T050000Z-pc1`). */
export const historyJobOf = (key: string) => key.slice(HISTORY_PREFIX.length).split('/')[0]!;
/** dashboard/archive_manifest/dt=<YYYY-MM-DD>/<job_id>.jsonl, e.g. `dashboard/archive_manifest/dt=2026-01-01/20260101T050000Z-pc1.jsonl`: one pruning run's log. */
export const archiveManifestKey = (date: string, jobId: string) => `${ARCHIVE_MANIFEST_PREFIX}dt=${date}/${jobId}.jsonl`;
/** dashboard/automation_log/<sequence:12>.json, e.g. `dashboard/automation_log/000000000007.json`. */
export const automationEntryKey = (sequence: number) => `${AUTOMATION_LOG_PREFIX}${pad(sequence, 12)}.json`;
/** Matches an automation log entry key; group 1 is the sequence. */
export const AUTOMATION_ENTRY_PATTERN = /^dashboard\/automation_log\/(\d{12})\.json$/;
