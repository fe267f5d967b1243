// runtime/dashboard-export/publish.ts
// Publishing one dashboard export: manifest commit (CAS sequence) → index → history → local artefacts → upload command.

import path from 'node:path';
import type { FnContext } from '../define.ts';
import { sha256Hex } from '../hash.ts';
import { datasetKey, historyKey, indexKey } from '../keys.ts';
import type { LocalFiles } from '../local-files.ts';
import { commandSecretValues, extendMasker } from '../secrets.ts';
import type { ObjectStore } from '../store/types.ts';
import { packIndex, type IndexEntries } from './incremental.ts';
import type { DatasetName } from './keys.ts';
import { commitManifest } from './manifest.ts';
import type { DatasetError, Manifest, ManifestDataset } from './schemas.ts';
import { runUploadCommand, type UploadResult } from './upload.ts';

/** One dataset as built by this export: its serialised body (bytes) and what the summary says of it. */
export interface BuiltDataset {
  name: DatasetName;
  body: Buffer;
  rows: number;
  stats: Record<string, unknown>;
  index?: IndexEntries;
}

/** What one export run shares between its steps; `errors` and `errorCode` are filled as the steps go. */
export interface ExportRun {
  ctx: FnContext;
  /** The primary: an export reads and writes nothing else. */
  store: ObjectStore;
  jobId: string;
  generatedAt: string;
  /** `<dataDir>/dashboard`: the local copy the upload command ships. */
  localDir: string;
  errors: DatasetError[];
  errorCode: string | null;
  /** Records a failed part (message masked, at most 300 characters). */
  failed(dataset: string, err: unknown): void;
}

export interface PublishOptions {
  /** `sh -c` command run after a successful export (CLI flag or config, never from HTTP input). */
  uploadCommand?: string | null;
  uploadTimeoutMs?: number;
}

export type UploadSummary = (UploadResult & { ran: true }) | { ran: false };

/**
 * Step 3 of an export (export.ts): commits the manifest (the datasets are written inside its CAS
 * step), then the indexes, the history copy, the local artefacts and the upload command. Returns
 * the manifest (null when its commit failed) and the upload's outcome; failures go to
 * `run.errors` / `run.errorCode`.
 */
export async function publishExport(
  run: ExportRun,
  built: BuiltDataset[],
  fresh: ManifestDataset[],
  options: PublishOptions,
): Promise<{ manifest: Manifest | null; upload: UploadSummary }> {
  const { ctx, store, jobId, localDir, errors } = run;
  let manifest: Manifest | null = null;
  let upload: UploadSummary = { ran: false };
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
      run.errorCode = 'upload_failed';
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
        run.errorCode = 'upload_failed';
        errors.push({ dataset: 'upload', message: `upload command failed (exit ${result.exit_code ?? result.signal ?? 'spawn error'}); artefacts kept in ${localDir} and under ${historyKey(jobId, '')}` });
      }
    }
  } catch (err) {
    // Before the commit nothing was published; after it, only the index/history/local copies are missing.
    run.errorCode = manifest ? 'artefacts_failed' : 'manifest_failed';
    run.failed(manifest ? 'artefacts' : 'manifest', err);
  }
  return { manifest, upload };
}

/** The seed's out/dashboard: a local copy the upload command ships (each file written durably: LocalFiles.replace). */
async function writeLocalArtefacts(files: LocalFiles, dir: string, built: BuiltDataset[], manifestBody: string): Promise<void> {
  for (const b of built) await files.replace(path.join(dir, `${b.name}.json`), b.body);
  await files.replace(path.join(dir, 'manifest.json'), manifestBody);
}
