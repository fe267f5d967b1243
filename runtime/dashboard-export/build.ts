// runtime/dashboard-export/build.ts
// Building a dashboard export's datasets: from raw segments (incremental, index reused), from state objects, and coverage.

import { sha256Hex } from '../hash.ts';
import { datasetKey, indexKey } from '../keys.ts';
import type { ObjectStore } from '../store/types.ts';
import { indexSchema, recomputeDataset, unpackIndex, type DatasetIndex } from './incremental.ts';
import type { DatasetName } from './keys.ts';
import { readJson } from './manifest.ts';
import type { BuiltDataset, ExportRun } from './publish.ts';
import { coverageRows } from './quality-dataset.ts';
import { latencyDataset, turnoverDataset, type BucketedDataset } from './raw-datasets.ts';
import { listRawObjects, type RawObject } from './raw-objects.ts';
import { readStateObjects, stateDatasetRows, type StateDatasetName } from './state-datasets.ts';

const MAX_SKIPPED_LISTED = 50;

const RAW_DATASETS: Partial<Record<DatasetName, BucketedDataset<any, any>>> = { latency: latencyDataset, turnover: turnoverDataset };

/** A dataset's body: `{dataset, generated_at, job_id, rows, meta}` as one JSON line. */
function serialise(job: Pick<ExportRun, 'generatedAt' | 'jobId'>, name: DatasetName, rows: unknown[], meta: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ dataset: name, generated_at: job.generatedAt, job_id: job.jobId, rows, meta }) + '\n');
}

/** Step 2 of an export (export.ts): the chosen datasets — from raw segments (incremental), from state objects, coverage; a failed one goes to `job.errors`. */
export async function buildDatasets(job: ExportRun & { selected: DatasetName[] }): Promise<BuiltDataset[]> {
  const { ctx, store, selected, failed } = job;
  const built: BuiltDataset[] = [];
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
        built.push({ name, body: serialise(job, name, result.rows, { ...result.stats }), rows: result.rows.length, stats: { ...result.stats }, index: result.objects });
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
        built.push({ name, body: serialise(job, name, rows, stats), rows: rows.length, stats });
      }
    } catch (err) {
      stateWanted.forEach((n) => failed(n, err));
    }
  }

  if (selected.includes('coverage')) {
    try {
      const { rows, skipped } = await coverageRows(store);
      built.push({ name: 'coverage', body: serialise(job, 'coverage', rows, { days: new Set(rows.map((r) => r.date)).size, skipped }), rows: rows.length, stats: { skipped } });
    } catch (err) {
      failed('coverage', err);
    }
  }
  return built;
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
