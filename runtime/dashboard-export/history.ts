// runtime/dashboard-export/history.ts
// History copies under dashboard/history/<job_id>/ and their pruning after N weeks, every removal logged first.

import { isoDate } from '../clock.ts';
import { listAll, type ObjectInfo, type ObjectStore } from '../store/types.ts';
import { readJson } from './manifest.ts';
import { manifestSchema } from './schemas.ts';
import { archiveManifestKey, HISTORY_PREFIX, historyJobOf, historyKey } from '../keys.ts';

const WEEK_MS = 7 * 86_400_000;

export interface PruneResult {
  /** Job ids whose history was removed. */
  jobs: string[];
  objects: number;
  bytes: number;
  /** The archive manifest object that lists every removed key (null when nothing was due). */
  log_key: string | null;
}

/**
 * Removes history entries older than `weeks`. An entry's age is its manifest's generated_at (the
 * exporter's clock); without a readable manifest, the newest object's store timestamp. The removal
 * list is written to the archive manifest stream before anything is deleted, so a crash mid-way
 * leaves a log of more than was removed, never less; the next run finishes the job.
 */
export async function pruneHistory(store: ObjectStore, o: { now: number; weeks: number; jobId: string; host: string }): Promise<PruneResult> {
  const byJob = new Map<string, ObjectInfo[]>();
  for await (const info of listAll(store, HISTORY_PREFIX)) {
    const job = historyJobOf(info.key);
    const list = byJob.get(job);
    if (list) list.push(info);
    else byJob.set(job, [info]);
  }
  const cutoff = o.now - o.weeks * WEEK_MS;
  const due: Array<{ job: string; objects: ObjectInfo[]; generatedAt: string }> = [];
  for (const [job, objects] of byJob) {
    if (job === o.jobId) continue;
    const { doc } = await readJson(store, historyKey(job, 'manifest.json'), manifestSchema);
    const parsed = doc ? Date.parse(doc.generated_at) : NaN;
    const at = Number.isFinite(parsed) ? parsed : Math.max(...objects.map((x) => x.lastModified));
    if (at < cutoff) due.push({ job, objects, generatedAt: new Date(at).toISOString() });
  }
  if (due.length === 0) return { jobs: [], objects: 0, bytes: 0, log_key: null };

  const removedAt = new Date(o.now).toISOString();
  const lines = due.flatMap(({ job, objects, generatedAt }) =>
    objects.map((x) =>
      JSON.stringify({
        at: removedAt,
        job_id: job,
        key: x.key,
        bytes: x.size,
        etag: x.etag,
        generated_at: generatedAt,
        reason: `older_than_${o.weeks}_weeks`,
        pruned_by: { job_id: o.jobId, host: o.host },
      }),
    ),
  );
  const logKey = archiveManifestKey(isoDate(o.now), o.jobId);
  await store.put(logKey, lines.join('\n') + '\n', { contentType: 'application/x-ndjson' });
  let objects = 0;
  let bytes = 0;
  for (const { objects: list } of due) {
    // The manifest copy goes last: while it exists, the entry's age stays readable for a re-run.
    const ordered = [...list].sort((a, b) => Number(a.key.endsWith('/manifest.json')) - Number(b.key.endsWith('/manifest.json')));
    for (const x of ordered) {
      await store.delete(x.key);
      objects++;
      bytes += x.size;
    }
  }
  return { jobs: due.map((d) => d.job), objects, bytes, log_key: logKey };
}
