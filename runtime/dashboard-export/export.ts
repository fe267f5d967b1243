// runtime/dashboard-export/export.ts
// One dashboard export: datasets → manifest (CAS sequence) → history → local artefacts → upload → prune →
// heartbeat → automation log → audit. Reads and writes the primary only (see docs/dashboard-export.md).

import path from 'node:path';
import type { FnContext } from '../define.ts';
import { BtcError, isBtcError } from '../errors.ts';
import type { LocalFiles } from '../local-files.ts';
import type { ObjectStore } from '../store/types.ts';
import { appendAutomationEntry } from './automation-log.ts';
import { pruneHistory, type PruneResult } from './history.ts';
import { indexSchema, packIndex, recomputeDataset, unpackIndex, type DatasetIndex, type IndexEntries } from './incremental.ts';
import { DATASETS, defaultJobId, JOB_ID_PATTERN, type DatasetName } from './keys.ts';
import { sha256Hex } from '../hash.ts';
import { commitManifest, readJson, updateHeartbeat } from './manifest.ts';
import { latencyDataset, turnoverDataset, type BucketedDataset } from './raw-datasets.ts';
import { listRawObjects, type RawObject } from './raw-objects.ts';
import type { DatasetError, Manifest, ManifestDataset } from './schemas.ts';
import { readStateObjects, stateDatasetRows, type StateDatasetName } from './state-datasets.ts';
import { runUploadCommand, type UploadResult } from './upload.ts';
import { commandSecretValues, extendMasker } from '../secrets.ts';
import { coverageRows } from './quality-dataset.ts';
import { datasetKey, historyKey, indexKey } from '../keys.ts';

export const JOB_NAME = 'dashboard-export';
export const AUTOMATION_LOCAL_FILE = 'automation_runs.log';
const MAX_SKIPPED_LISTED = 50;

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
  upload: (UploadResult & { ran: true }) | { ran: false };
  pruned: PruneResult | null;
  /** The local copy the upload command ships; null where the runtime has no disk (a worker). */
  local_dir: string | null;
  automation_log: { sequence: number; warning_sequence: number | null } | null;
  elapsed_ms: number;
}

interface Built {
  name: DatasetName;
  body: Buffer;
  rows: number;
  stats: Record<string, unknown>;
  index?: IndexEntries;
}

const RAW_DATASETS: Partial<Record<DatasetName, BucketedDataset<any, any>>> = { latency: latencyDataset, turnover: turnoverDataset };

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

async function exportOnce(ctx: FnContext, options: ExportOptions): Promise<ExportSummary> {
  const store = ctx.store.primary;
  const startedMs = ctx.clock.now();
  const t0 = performance.now();
  const jobId = options.jobId ?? defaultJobId(startedMs, ctx.host);
  if (!JOB_ID_PATTERN.test(jobId)) throw new BtcError('InvalidInput', `job id must match ${JOB_ID_PATTERN}: ${JSON.stringify(jobId)}`);
  if (await store.head(historyKey(jobId, 'manifest.json'))) throw new BtcError('InvalidInput', `job id ${jobId} was already exported`);
  const selected = [...new Set(options.datasets?.length ? options.datasets : DATASETS)];
  const generatedAt = new Date(startedMs).toISOString();
  const errors: DatasetError[] = [];
  const failed = (dataset: string, err: unknown) => errors.push({ dataset, message: ctx.masker.text(err instanceof Error ? err.message : String(err)).slice(0, 300) });
  const serialise = (name: DatasetName, rows: unknown[], meta: Record<string, unknown>) =>
    Buffer.from(JSON.stringify({ dataset: name, generated_at: generatedAt, job_id: jobId, rows, meta }) + '\n');

  const built: Built[] = [];
  const rawWanted = selected.filter((n) => RAW_DATASETS[n]);
  if (rawWanted.length) {
    let listing: RawObject[] | null = null;
    try {
      const { objects, foreign } = await listRawObjects(store);
      listing = objects;
      if (foreign.length) ctx.log.warn({ count: foreign.length, first: foreign[0] }, 'raw/ keys outside the layout ignored');
    } catch (err) {
      rawWanted.forEach((n) => failed(n, err));
    }
    for (const name of listing ? rawWanted : []) {
      try {
        const def = RAW_DATASETS[name]!;
        const result = await recomputeDataset(store, def, listing!, await loadPrevious(store, name));
        built.push({ name, body: serialise(name, result.rows, { ...result.stats }), rows: result.rows.length, stats: { ...result.stats }, index: result.objects });
      } catch (err) {
        failed(name, err);
      }
    }
  }
  const stateWanted = selected.filter((n): n is StateDatasetName => n === 'slippage' || n === 'ev_history');
  if (stateWanted.length) {
    try {
      const { parsed, skipped } = await readStateObjects(store);
      if (skipped.length) ctx.log.warn({ skipped: skipped.slice(0, 10) }, `${skipped.length} state object(s) could not be parsed`);
      for (const name of stateWanted) {
        const rows = stateDatasetRows(name, parsed);
        const stats = { objects: parsed.length, skipped_total: skipped.length, skipped: skipped.slice(0, MAX_SKIPPED_LISTED) };
        built.push({ name, body: serialise(name, rows, stats), rows: rows.length, stats });
      }
    } catch (err) {
      stateWanted.forEach((n) => failed(n, err));
    }
  }

  if (selected.includes('coverage')) {
    try {
      const { rows, skipped } = await coverageRows(store);
      built.push({ name: 'coverage', body: serialise('coverage', rows, { days: new Set(rows.map((r) => r.date)).size, skipped }), rows: rows.length, stats: { skipped } });
    } catch (err) {
      failed('coverage', err);
    }
  }

  const fresh: ManifestDataset[] = built.map((b) => ({
    name: b.name,
    key: datasetKey(b.name),
    rows: b.rows,
    bytes: b.body.length,
    checksum_sha256: sha256Hex(b.body),
    generated_at: generatedAt,
    job_id: jobId,
  }));
  let manifest: Manifest | null = null;
  let errorCode: string | null = errors.length ? 'dataset_failed' : null;
  let upload: ExportSummary['upload'] = { ran: false };
  let pruned: PruneResult | null = null;
  const localDir = path.join(ctx.paths.dataDir, 'dashboard');
  try {
    manifest = await commitManifest(store, fresh, { jobId, host: ctx.host, now: () => ctx.clock.now() }, async () => {
      for (const b of built) await store.put(datasetKey(b.name), b.body, { contentType: 'application/json' });
    });
    // The index names the dataset bytes it describes; written after them, so a crash in between only costs a full recompute.
    for (const b of built) {
      if (!b.index) continue;
      const index = packIndex({ dataset: b.name, dataset_sha256: sha256Hex(b.body), objects: b.index });
      await store.put(indexKey(b.name), JSON.stringify(index), { contentType: 'application/json' });
    }
    const manifestBody = JSON.stringify(manifest, null, 2) + '\n';
    for (const b of built) await store.put(historyKey(jobId, `${b.name}.json`), b.body, { contentType: 'application/json' });
    await store.put(historyKey(jobId, 'manifest.json'), manifestBody, { contentType: 'application/json' });
    if (ctx.files) await writeLocalArtefacts(ctx.files, localDir, built, manifestBody);
    if (errors.length === 0 && options.uploadCommand && !ctx.files) {
      // The command ships the local copy, and there is none without a disk: say so, never skip silently.
      errorCode = 'upload_failed';
      errors.push({ dataset: 'upload', message: `upload command not run: this runtime has no local disk (artefacts are under ${historyKey(jobId, '')})` });
    } else if (errors.length === 0 && options.uploadCommand) {
      const result = await runUploadCommand(options.uploadCommand, {
        dir: localDir,
        manifestFile: path.join(localDir, 'manifest.json'),
        jobId,
        timeoutMs: options.uploadTimeoutMs ?? 10 * 60_000,
      });
      // The command may come from --upload-command (unknown to ctx.masker): it and its secret parts are masked too.
      const masker = extendMasker(ctx.masker, [options.uploadCommand, ...commandSecretValues(options.uploadCommand)]);
      upload = { ran: true, ...result, stderr_tail: masker.text(result.stderr_tail) };
      if (!result.ok) {
        errorCode = 'upload_failed';
        errors.push({ dataset: 'upload', message: `upload command failed (exit ${result.exit_code ?? result.signal ?? 'spawn error'}); artefacts kept in ${localDir} and under ${historyKey(jobId, '')}` });
      }
    }
  } catch (err) {
    // Before the commit nothing was published; after it, only the index/history/local copies are missing.
    errorCode = manifest ? 'artefacts_failed' : 'manifest_failed';
    failed(manifest ? 'artefacts' : 'manifest', err);
  }
  try {
    pruned = await pruneHistory(store, { now: ctx.clock.now(), weeks: options.historyWeeks, jobId, host: ctx.host });
    if (pruned.objects > 0) await ctx.audit.record('dashboard.history.prune', { job_id: jobId, jobs: pruned.jobs, objects: pruned.objects, bytes: pruned.bytes, log_key: pruned.log_key });
  } catch (err) {
    errorCode ??= 'history_prune_failed';
    failed('history', err);
  }

  const okNames = manifest ? built.map((b) => b.name) : [];
  const uncommitted = manifest ? [] : built.map((b) => ({ dataset: b.name, message: 'computed but not committed: manifest write failed' }));
  const datasetErrors = [...errors.filter((e) => (DATASETS as readonly string[]).includes(e.dataset)), ...uncommitted];
  await updateHeartbeat(store, { jobId, host: ctx.host, at: ctx.clock.now(), ok: okNames, failed: datasetErrors, errorCode }).catch((err) => {
    errorCode ??= 'heartbeat_failed';
    failed('heartbeat', err);
  });

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

/** The previous rows and index, only when the index describes exactly the stored dataset bytes. */
async function loadPrevious(store: ObjectStore, name: DatasetName): Promise<{ rows: any[]; index: DatasetIndex } | null> {
  const { doc: stored } = await readJson(store, indexKey(name), indexSchema);
  if (!stored) return null;
  const index = unpackIndex(stored);
  const dataset = await store.getOrNull(datasetKey(name));
  if (!dataset || sha256Hex(dataset.body) !== index.dataset_sha256) return null;
  try {
    const rows = (JSON.parse(dataset.body.toString('utf8')) as { rows?: unknown }).rows;
    return Array.isArray(rows) ? { rows, index } : null;
  } catch {
    return null;
  }
}

/** The seed's out/dashboard: a local copy the upload command ships (each file written durably: LocalFiles.replace). */
async function writeLocalArtefacts(files: LocalFiles, dir: string, built: Built[], manifestBody: string): Promise<void> {
  for (const b of built) await files.replace(path.join(dir, `${b.name}.json`), b.body);
  await files.replace(path.join(dir, 'manifest.json'), manifestBody);
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
