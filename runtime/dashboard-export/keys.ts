// runtime/dashboard-export/keys.ts
// Names of the dashboard export: datasets and job ids (their object keys are built in runtime/keys.ts).

export const DATASETS = ['latency', 'turnover', 'slippage', 'ev_history', 'coverage'] as const;
export type DatasetName = (typeof DATASETS)[number];

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
