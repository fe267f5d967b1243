// runtime/dashboard-export/manifest.ts
// The manifest's strictly increasing sequence (compare-and-swap on dashboard/manifest.json) and the heartbeat.

import { sha256Hex } from '../hash.ts';
import type { z } from 'zod';
import { retry } from '../async.ts';
import { BtcError, isBtcError } from '../errors.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import type { DatasetName } from './keys.ts';
import { heartbeatSchema, manifestSchema, type DatasetError, type Heartbeat, type Manifest, type ManifestDataset } from './schemas.ts';
import { AUTOMATION_ENTRY_PATTERN, AUTOMATION_LOG_PREFIX, HEARTBEAT_KEY, HISTORY_PREFIX, MANIFEST_KEY } from '../keys.ts';

/** Racing exporters retry the swap; each lost race means another export committed, so this is plenty. */
const MAX_SWAP_ATTEMPTS = 20;


/** Reads a JSON document; absent → null; unparseable or off-schema → `invalid` (the caller decides). */
export async function readJson<S extends z.ZodType>(store: ObjectStore, key: string, schema: S): Promise<{ doc: z.output<S> | null; etag: string | null; invalid?: string }> {
  const got = await store.getOrNull(key);
  if (!got) return { doc: null, etag: null };
  try {
    const parsed = schema.safeParse(JSON.parse(got.body.toString('utf8')));
    if (parsed.success) return { doc: parsed.data, etag: got.etag };
    return { doc: null, etag: got.etag, invalid: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  } catch {
    return { doc: null, etag: got.etag, invalid: 'not valid JSON' };
  }
}

/**
 * Read-modify-write of one JSON object with a conditional put (If-Match on the etag read, or
 * If-None-Match when absent); a lost race re-reads and re-applies. `beforeWrite` runs on every
 * attempt after the read (the export rewrites its datasets there, see commitManifest).
 */
export async function swapJson<S extends z.ZodType, T>(
  store: ObjectStore,
  key: string,
  schema: S,
  build: (current: z.output<S> | null) => T,
  beforeWrite?: () => Promise<void>,
): Promise<T> {
  // PreconditionFailed: someone else swapped first. NotFound: it was deleted under us. Both: retry.
  const lostRace = (err: unknown) => isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound');
  let lost = false;
  try {
    return await retry(
      async () => {
        lost = false;
        const current = await readJson(store, key, schema);
        await beforeWrite?.();
        const next = build(current.doc);
        const body = JSON.stringify(next, null, 2) + '\n';
        try {
          await store.put(key, body, current.etag ? { ifMatch: current.etag, contentType: 'application/json' } : { ifNoneMatch: '*', contentType: 'application/json' });
        } catch (err) {
          lost = lostRace(err);
          throw err;
        }
        return next;
      },
      { attempts: MAX_SWAP_ATTEMPTS, retryIf: () => lost, delayMs: (attempt) => Math.random() * 20 * attempt },
    );
  } catch (err) {
    if (lost) throw new BtcError('Conflict', `${key}: gave up after ${MAX_SWAP_ATTEMPTS} lost races`);
    throw err;
  }
}

/**
 * Commits a manifest with sequence = current + 1. The datasets are (re)written after each read of the
 * manifest and before the swap, so whichever exporter commits last also wrote last: at rest the
 * manifest's checksums describe the stored objects, and no two commits share a sequence.
 */
export async function commitManifest(
  store: ObjectStore,
  fresh: ManifestDataset[],
  meta: { jobId: string; host: string; now: () => number },
  writeDatasets: () => Promise<void>,
): Promise<Manifest> {
  // The sequence never goes back: a deleted, corrupt or rolled-back manifest.json continues above
  // the highest number its history copies and the automation log remember.
  const floor = await highestManifestSequence(store);
  return swapJson(
    store,
    MANIFEST_KEY,
    manifestSchema,
    (current): Manifest => {
      const names = new Set(fresh.map((d) => d.name));
      // Datasets not exported this time (--dataset) stay as the previous manifest described them.
      const carried = (current?.datasets ?? []).filter((d) => !names.has(d.name));
      return {
        version: 1,
        sequence: Math.max(current?.sequence ?? 0, floor.sequence) + 1,
        generated_at: new Date(meta.now()).toISOString(),
        job_id: meta.jobId,
        host: meta.host,
        datasets: [...carried, ...fresh].sort((a, b) => (a.name < b.name ? -1 : 1)),
      };
    },
    writeDatasets,
  );
}

/** Automation log entries read for their manifest_sequence (the newest; older ones are below the history copies anyway). */
const LOG_ENTRIES_SCANNED = 50;

/**
 * The highest manifest sequence remembered outside manifest.json: every history copy
 * (dashboard/history/<job_id>/manifest.json) and the newest automation log entries'
 * `diagnostics.manifest_sequence`. 0 when nothing is remembered. Unreadable objects are skipped.
 */
export async function highestManifestSequence(store: ObjectStore): Promise<{ sequence: number; source: string | null }> {
  let best = { sequence: 0, source: null as string | null };
  const consider = (sequence: unknown, source: string) => {
    if (typeof sequence === 'number' && Number.isSafeInteger(sequence) && sequence > best.sequence) best = { sequence, source };
  };
  const copies: string[] = [];
  for await (const info of listAll(store, HISTORY_PREFIX)) if (info.key.endsWith('/manifest.json')) copies.push(info.key);
  const logKeys: string[] = [];
  for await (const info of listAll(store, AUTOMATION_LOG_PREFIX)) if (AUTOMATION_ENTRY_PATTERN.test(info.key)) logKeys.push(info.key);
  const read = async (key: string) => {
    try {
      const got = await store.getOrNull(key);
      return got ? (JSON.parse(got.body.toString('utf8')) as Record<string, any>) : null;
    } catch {
      return null;
    }
  };
  for (const key of copies) consider((await read(key))?.sequence, key);
  for (const key of logKeys.sort().slice(-LOG_ENTRIES_SCANNED)) consider((await read(key))?.diagnostics?.manifest_sequence, key);
  return best;
}

export interface HeartbeatUpdate {
  jobId: string;
  host: string;
  at: number;
  ok: DatasetName[];
  failed: DatasetError[];
  /** Whole-run failure that is not one dataset's (upload_failed, manifest_failed). */
  errorCode: string | null;
}

/** Per-dataset ok|error with last_success_at, and last_failure with the errors of the last failed run. */
export function updateHeartbeat(store: ObjectStore, u: HeartbeatUpdate): Promise<Heartbeat> {
  const at = new Date(u.at).toISOString();
  return swapJson(store, HEARTBEAT_KEY, heartbeatSchema, (current): Heartbeat => {
    const datasets = { ...(current?.datasets ?? {}) };
    for (const name of u.ok) datasets[name] = { status: 'ok', last_success_at: at, last_error: null };
    for (const e of u.failed) datasets[e.dataset] = { status: 'error', last_success_at: datasets[e.dataset]?.last_success_at ?? null, last_error: e.message };
    const failed = u.failed.length > 0 || u.errorCode !== null;
    return {
      version: 1,
      updated_at: at,
      job_id: u.jobId,
      host: u.host,
      status: failed ? 'error' : 'ok',
      last_success_at: failed ? (current?.last_success_at ?? null) : at,
      datasets,
      last_failure: failed ? { at, job_id: u.jobId, error_code: u.errorCode, errors: u.failed } : (current?.last_failure ?? null),
    };
  });
}
