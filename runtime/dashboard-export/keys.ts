// runtime/dashboard-export/keys.ts
// Object keys of the dashboard export: datasets, manifest, heartbeat, history, indexes, logs.

export const DATASETS = ['latency', 'turnover', 'slippage', 'ev_history', 'coverage'] as const;
export type DatasetName = (typeof DATASETS)[number];

export const DASHBOARD_PREFIX = 'dashboard/';
export const MANIFEST_KEY = 'dashboard/manifest.json';
export const HEARTBEAT_KEY = 'dashboard/heartbeat.json';
export const HISTORY_PREFIX = 'dashboard/history/';
/** One object per pruning run listing every history object it removed (the archive manifest stream). */
export const ARCHIVE_MANIFEST_PREFIX = 'dashboard/archive_manifest/';
/** The automation log: one object per entry, named by its gap-free sequence. */
export const AUTOMATION_LOG_PREFIX = 'dashboard/automation_log/';
/** Highest sequence ever issued and the gaps already reported (the seed's automation_runs.sequence). */
export const AUTOMATION_SEQUENCE_KEY = 'dashboard/automation_log/sequence.json';

export const datasetKey = (name: DatasetName) => `${DASHBOARD_PREFIX}${name}.json`;
export const historyKey = (jobId: string, file: string) => `${HISTORY_PREFIX}${jobId}/${file}`;
/** What the incremental recompute already covered: raw object key → etag and buckets. */
export const indexKey = (name: DatasetName) => `${DASHBOARD_PREFIX}index/${name}.json`;
export const automationEntryKey = (sequence: number) => `${AUTOMATION_LOG_PREFIX}${String(sequence).padStart(12, '0')}.json`;
export const AUTOMATION_ENTRY_PATTERN = /^dashboard\/automation_log\/(\d{12})\.json$/;

/**
 * Job ids become key segments (and file names in the cache, on Windows too): letters, digits,
 * `.`, `_`, `-`; starting with a letter or digit (never an option-like `-x`), no `..`, no trailing dot.
 */
export const JOB_ID_PATTERN = /^(?!.*\.\.)[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9_-])?$/;

/** `20260101T050000Z-<host>`: sortable by time, unique per host and second. */
export function defaultJobId(nowMs: number, host: string): string {
  return `${new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}-${host}`;
}

export function isDatasetName(name: string): name is DatasetName {
  return (DATASETS as readonly string[]).includes(name);
}
