// runtime/sync/transfer.ts
// Moving one object: read it under the byte budget, upload create-only verified by MD5, delete the cache copy only then; atomic objects copied when newer.

import { isBtcError } from '../errors.ts';
import { conflictKey } from '../keys.ts';
import { putOnce } from '../segments.ts';
import { etagOf } from '../store/fs.ts';
import type { ObjectInfo } from '../store/types.ts';
import { readBody, releaseHeld, finished, wouldCopy, type HeldBody, type SyncRun } from './run.ts';
import type { SyncSummary } from './types.ts';

/**
 * Reads `key` from the cache once `size` bytes (its listed size) fit in the run's byte budget;
 * null (budget given back) when the key is gone, i.e. taken by a concurrent sync. A read error
 * gives the budget back and is thrown.
 */
export async function readHeld(run: SyncRun, key: string, size: number): Promise<(HeldBody & { body: Buffer }) | null> {
  await run.budget.acquire(size);
  try {
    const body = await readBody(run, key);
    if (body) return { body, bytes: size };
  } catch (err) {
    run.budget.release(size);
    throw err;
  }
  run.budget.release(size);
  return null;
}

/**
 * Hands `task` (which owns `held` and releases it) to the upload pool; when the pool refused it
 * (an earlier upload failed, so nothing new starts) the budget is given back here.
 */
export async function releaseUnlessStarted(run: SyncRun, held: HeldBody, task: () => Promise<void>): Promise<void> {
  let started = false;
  await run.pool.submit(() => {
    started = true;
    return task();
  });
  if (!started) releaseHeld(run, held, 'reuse'); // never sent
}

/**
 * Transfer, verify and clean up one segment (raw or audit): create-only PUT verified by MD5
 * (segments.ts putOnce), then the cache copy is deleted — only now, when the primary holds these
 * exact bytes. A key that holds other bytes in the primary is a conflict: the local bytes are
 * kept under conflicts/ in the cache, audited `collector.sync.failed` (reason conflict), never
 * overwritten. Releases the body's budget at the end, whatever happened; its buffer is reused only
 * after a verified upload (run.ts releaseHeld).
 */
export async function uploadSegment(run: SyncRun, key: string, held: HeldBody & { body: Buffer }): Promise<void> {
  const { deps, summary } = run;
  const body = held.body;
  let verified = false;
  try {
    const outcome = await run.call(() => putOnce(deps.primary, key, body, { onThrottle: run.onThrottle }));
    verified = outcome.result === 'uploaded';
    run.limit.onSuccess();
    if (outcome.result === 'conflict') {
      // Keep the local bytes where sync will not pick them up again, then make it loud.
      await deps.cache.put(conflictKey(key), body);
      await deps.cache.delete(key);
      summary.conflicts.push({ key, local_etag: outcome.localEtag, remote_etag: outcome.remoteEtag });
      deps.log.error({ key }, 'sync: segment key already holds different bytes in the primary: conflict, not overwritten');
      await deps.audit.record('collector.sync.failed', { reason: 'conflict', stage: 'sync', key, local_etag: outcome.localEtag, remote_etag: outcome.remoteEtag });
    } else {
      if (outcome.result === 'uploaded') summary.uploaded++;
      else summary.already_present++;
      await deps.cache.delete(key); // only now: the primary holds these exact bytes
    }
    await finished(run, body.length);
  } finally {
    releaseHeld(run, held, verified ? 'reuse' : 'forget');
  }
}

/** Latest CSV, status and other whole objects: copied only when newer than the primary's and different. */
export async function copyAtomic(run: SyncRun, info: ObjectInfo): Promise<void> {
  await run.budget.acquire(info.size);
  try {
    await copyAtomicHeld(run, info);
  } finally {
    run.budget.release(info.size);
  }
}

async function copyAtomicHeld(run: SyncRun, info: ObjectInfo): Promise<void> {
  const { deps, options, summary } = run;
  const local = await deps.cache.getOrNull(info.key);
  if (!local) return;
  const remote = await run.call(() => deps.primary.head(info.key));
  let outcome: keyof Required<SyncSummary['atomic']>;
  if (remote && remote.etag === local.etag) outcome = 'same';
  else if (remote && remote.lastModified >= local.lastModified) outcome = 'primary_newer';
  else if (options.dryRun) {
    outcome = 'would_copy';
    wouldCopy(run, local.body.length);
  } else {
    try {
      const put = await run.call(() => deps.primary.put(info.key, local.body, { ...(remote ? { ifMatch: remote.etag } : { ifNoneMatch: '*' as const }), onThrottle: run.onThrottle }));
      // An ETag that is not the MD5 (an encrypted bucket) is settled by reading the copy back.
      if (put.etag && put.etag !== etagOf(local.body) && !(await run.call(() => deps.primary.get(info.key))).body.equals(local.body)) {
        throw new Error(`copy of ${info.key} reads back different bytes`);
      }
      outcome = 'copied';
    } catch (err) {
      // Someone wrote the primary's copy after we looked: theirs is newer.
      if (!isBtcError(err, 'PreconditionFailed') && !isBtcError(err, 'NotFound')) throw err;
      outcome = 'primary_newer';
    }
  }
  summary.atomic[outcome] = (summary.atomic[outcome] ?? 0) + 1;
  if (!options.dryRun) {
    // Delete only the version we copied, in one conditional step: a newer cache write (the
    // primary went down again meanwhile) stays for the next sync.
    await deps.cache.delete(info.key, { ifMatch: local.etag }).catch((err) => {
      if (!isBtcError(err, 'PreconditionFailed')) throw err;
    });
  }
  await finished(run, local.body.length);
}
