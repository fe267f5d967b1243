// runtime/dashboard-export/export.ts
// One dashboard export: datasets (build.ts) → manifest (CAS sequence) → history → local artefacts → upload (publish.ts) →
// prune → heartbeat → automation log → audit. Reads and writes the primary only (see docs/dashboard-export.md).

import path from 'node:path';
import type { FnContext } from '../define.ts';
import { BtcError, isBtcError } from '../errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { appendAutomationEntry } from './automation-log.ts';
import { pruneHistory, type PruneResult } from './history.ts';
import { DATASETS, defaultJobId, JOB_ID_PATTERN, type DatasetName } from './keys.ts';
import { sha256Hex } from '../hash.ts';
import { buildDatasets } from './build.ts';
import { updateHeartbeat } from './manifest.ts';
import { publishExport, type BuiltDataset, type ExportRun, type UploadSummary } from './publish.ts';
import type { DatasetError, Manifest, ManifestDataset } from './schemas.ts';
import { datasetKey, historyKey } from '../keys.ts';

export const JOB_NAME = 'dashboard-export';
export const AUTOMATION_LOCAL_FILE = 'automation_runs.log';

export interface ExportOptions {
  /** Datasets to export (default: all five); the others stay as the last manifest described them. */
  datasets?: DatasetName[];
  jobId?: string;
  /** `sh -c` command run after a successful export (CLI flag or config, never from HTTP input). */
  uploadCommand?: string | null;
  uploadTimeoutMs?: number;
  historyWeeks: number;
}

export interface DatasetSummary {
  [extra: string]: unknown;
  name: DatasetName;
  status: 'ok' | 'error';
  key: string;
  rows?: number;
  bytes?: number;
  checksum_sha256?: string;
  stats?: Record<string, unknown>;
  error?: string;
}

export interface ExportSummary {
  [extra: string]: unknown;
  status: 'ok' | 'error';
  error_code: string | null;
  job_id: string;
  sequence: number | null;
  generated_at: string | null;
  datasets: DatasetSummary[];
  errors: DatasetError[];
  upload: UploadSummary;
  pruned: PruneResult | null;
  /** The local copy the upload command ships; null where the runtime has no disk (a worker). */
  local_dir: string | null;
  automation_log: { sequence: number; warning_sequence: number | null } | null;
  elapsed_ms: number;
}

/** One export. Failures of parts are in the summary; a primary that cannot be reached at all throws (audited). */
export async function runDashboardExport(ctx: FnContext, options: ExportOptions): Promise<ExportSummary> {
  try {
    return await exportOnce(ctx, options);
  } catch (err) {
    if (!isBtcError(err, 'InvalidInput')) {
      const code = isBtcError(err, 'Unavailable') ? 'primary_unavailable' : 'internal';
      await ctx.audit.record('dashboard.export.failed', { job_id: options.jobId ?? null, error_code: code, errors: [{ dataset: 'export', message: err instanceof Error ? err.message : String(err) }] });
      ctx.metrics?.recordDashboardExport({ ok: false, sequence: null, atMs: ctx.clock.now(), rows: {} });
    }
    throw err;
  }
}

/**
 * One export, step by step: start (job id checked) → build the datasets → publish (manifest, index,
 * history, local copy, upload; publish.ts) → prune the history → heartbeat → finish (automation
 * log, audit, metrics, the summary).
 */
async function exportOnce(ctx: FnContext, options: ExportOptions): Promise<ExportSummary> {
  const job = await startExport(ctx, options);
  const built = await buildDatasets(job);
  job.errorCode = job.errors.length ? 'dataset_failed' : null;
  const fresh = manifestEntries(job, built);
  const { manifest, upload } = await publishExport(job, built, fresh, options);
  const pruned = await pruneOldHistory(job, options.historyWeeks);
  await writeHeartbeat(job, built, manifest);
  return finishExport(job, { built, fresh, manifest, upload, pruned });
}

/** One export run as its steps share it: the run (publish.ts) plus the datasets chosen and the start time. */
interface ExportJob extends ExportRun {
  selected: DatasetName[];
  /** performance.now() at the start (the elapsed time). */
  t0: number;
}

/** Step 1: the job id (given or the default; checked, and never exported before) and the datasets chosen. */
async function startExport(ctx: FnContext, options: ExportOptions): Promise<ExportJob> {
  const store = ctx.store.primary;
  const startedMs = ctx.clock.now();
  const t0 = performance.now();
  const jobId = options.jobId ?? defaultJobId(startedMs, ctx.host);
  if (!JOB_ID_PATTERN.test(jobId)) throw new BtcError('InvalidInput', `job id must match ${JOB_ID_PATTERN}: ${JSON.stringify(jobId)}`);
  if (await store.head(historyKey(jobId, 'manifest.json'))) throw new BtcError('InvalidInput', `job id ${jobId} was already exported`);
  const selected = [...new Set(options.datasets?.length ? options.datasets : DATASETS)];
  const generatedAt = new Date(startedMs).toISOString();
  const errors: DatasetError[] = [];
  const failed = (dataset: string, err: unknown) => void errors.push({ dataset, message: ctx.masker.text(err instanceof Error ? err.message : String(err)).slice(0, 300) });
  const localDir = path.join(ctx.paths.dataDir, 'dashboard');
  return { ctx, store, jobId, generatedAt, localDir, errors, errorCode: null, failed, selected, t0 };
}

/** The manifest's entry of each built dataset (key, rows, bytes, sha256). */
function manifestEntries(job: ExportJob, built: BuiltDataset[]): ManifestDataset[] {
  return built.map((b) => ({
    name: b.name,
    key: datasetKey(b.name),
    rows: b.rows,
    bytes: b.body.length,
    checksum_sha256: sha256Hex(b.body),
    generated_at: job.generatedAt,
    job_id: job.jobId,
  }));
}

/** Step 4 (after step 3, publishExport in publish.ts): history older than `weeks` removed (audited when anything was); null when the prune failed. */
async function pruneOldHistory(job: ExportJob, weeks: number): Promise<PruneResult | null> {
  const { ctx, store, jobId } = job;
  try {
    const pruned = await pruneHistory(store, { now: ctx.clock.now(), weeks, jobId, host: ctx.host });
    if (pruned.objects > 0) await ctx.audit.record('dashboard.history.prune', { job_id: jobId, jobs: pruned.jobs, objects: pruned.objects, bytes: pruned.bytes, log_key: pruned.log_key });
    return pruned;
  } catch (err) {
    job.errorCode ??= 'history_prune_failed';
    job.failed('history', err);
    return null;
  }
}

/** Step 5: the export heartbeat: which datasets this run committed and which failed. */
async function writeHeartbeat(job: ExportJob, built: BuiltDataset[], manifest: Manifest | null): Promise<void> {
  const { ctx, store, jobId, errors } = job;
  const okNames = manifest ? built.map((b) => b.name) : [];
  const uncommitted = manifest ? [] : built.map((b) => ({ dataset: b.name, message: 'computed but not committed: manifest write failed' }));
  const datasetErrors = [...errors.filter((e) => (DATASETS as readonly string[]).includes(e.dataset)), ...uncommitted];
  await updateHeartbeat(store, { jobId, host: ctx.host, at: ctx.clock.now(), ok: okNames, failed: datasetErrors, errorCode: job.errorCode }).catch((err) => {
    job.errorCode ??= 'heartbeat_failed';
    job.failed('heartbeat', err);
  });
}

/** Step 6: the per-dataset summary, the automation log line, the audit event and the metrics. */
async function finishExport(
  job: ExportJob,
  parts: { built: BuiltDataset[]; fresh: ManifestDataset[]; manifest: Manifest | null; upload: UploadSummary; pruned: PruneResult | null },
): Promise<ExportSummary> {
  const { ctx, store, jobId, errors, selected, t0, localDir } = job;
  const { built, fresh, manifest, upload, pruned } = parts;
  const errorCode = job.errorCode;
  const status = errors.length ? 'error' : 'ok';
  const elapsed = Math.round(performance.now() - t0);
  const datasets: DatasetSummary[] = selected.map((name) => {
    const m = fresh.find((d) => d.name === name);
    const b = built.find((x) => x.name === name);
    const e = errors.find((x) => x.dataset === name);
    return m && b && manifest
      ? { name, status: 'ok', key: m.key, rows: m.rows, bytes: m.bytes, checksum_sha256: m.checksum_sha256, stats: b.stats }
      : { name, status: 'error', key: datasetKey(name), error: e?.message ?? 'not committed' };
  });
  const automation = await logRun(ctx, store, {
    jobId,
    status,
    errorCode,
    elapsed,
    diagnostics: {
      manifest_sequence: manifest?.sequence ?? null,
      datasets: Object.fromEntries(datasets.map((d) => [d.name, d.status === 'ok' ? d.rows : 'error'])),
      errors: errors.slice(0, 5).map((e) => ({ dataset: e.dataset, message: e.message.slice(0, 200) })),
      ...(upload.ran ? { upload_exit_code: upload.exit_code } : {}),
      pruned_jobs: pruned?.jobs.length ?? 0,
    },
  });
  if (status === 'ok') {
    await ctx.audit.record('dashboard.export.complete', { job_id: jobId, sequence: manifest?.sequence, datasets: datasets.map((d) => ({ name: d.name, rows: d.rows })), elapsed_ms: elapsed });
  } else {
    await ctx.audit.record('dashboard.export.failed', { job_id: jobId, sequence: manifest?.sequence ?? null, error_code: errorCode, errors });
  }
  ctx.metrics?.recordDashboardExport({ ok: status === 'ok', sequence: manifest?.sequence ?? null, atMs: ctx.clock.now(), rows: Object.fromEntries(built.map((b) => [b.name, b.rows])) });
  return {
    status,
    error_code: errorCode,
    job_id: jobId,
    sequence: manifest?.sequence ?? null,
    generated_at: manifest?.generated_at ?? null,
    datasets,
    errors,
    upload,
    pruned,
    local_dir: ctx.files ? localDir : null,
    automation_log: automation,
    elapsed_ms: Math.round(performance.now() - t0),
  };
}

/** Appends this run to the automation log (store) and mirrors the line(s) to <logsDir>/automation_runs.log. */
async function logRun(
  ctx: FnContext,
  store: ObjectStore,
  run: { jobId: string; status: 'ok' | 'error'; errorCode: string | null; elapsed: number; diagnostics: Record<string, unknown> },
): Promise<ExportSummary['automation_log']> {
  try {
    const result = await appendAutomationEntry(store, {
      job_name: JOB_NAME,
      job_id: run.jobId,
      host: ctx.host,
      status: run.status,
      at: new Date(ctx.clock.now()).toISOString(),
      duration_ms: run.elapsed,
      diagnostics: { error_code: run.errorCode, ...run.diagnostics },
    });
    const lines = [result.warning?.line, result.line].filter(Boolean).join('\n') + '\n';
    // Rotated by size and UTC day on a Node runtime (runtime/log-files.ts); no local mirror in a worker.
    await ctx.files?.append(path.join(ctx.paths.logsDir, AUTOMATION_LOCAL_FILE), lines, undefined, { rotate: true });
    return { sequence: result.entry.sequence, warning_sequence: result.warning?.entry.sequence ?? null };
  } catch (err) {
    ctx.log.warn({ err: String(err) }, 'automation log append failed');
    return null;
  }
}
