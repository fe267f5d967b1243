// runtime/fs-retry.ts
// Rename and unlink that wait out a file held for a moment by another program (Windows antivirus, search indexer, backup agents).

import { promises as fsp } from 'node:fs';
import { retry } from './async.ts';

/**
 * What Windows answers while another program has the file open without FILE_SHARE_DELETE (or a
 * delete is still pending): ERROR_ACCESS_DENIED / ERROR_SHARING_VIOLATION map to EPERM, EACCES
 * and EBUSY in libuv. The same codes graceful-fs retries its rename on (polyfills.js).
 */
const BUSY_CODES = new Set(['EPERM', 'EACCES', 'EBUSY']);
/**
 * Retrying stops after this long (ms). graceful-fs waits up to 60 s (for one antivirus product
 * that holds files that long); here a lock or a write is waiting behind the retry, and a scan
 * holds a file for well under a second, so the error is reported after a couple of seconds.
 */
export const BUSY_RETRY_MS = 2_000;
/** Backoff steps as in graceful-fs: 10, 20, … up to 100 ms between tries. */
const BACKOFF_STEP_MS = 10;
const BACKOFF_MAX_MS = 100;

/**
 * Runs `op` and runs it again while it fails with EPERM, EACCES or EBUSY, for at most `budgetMs`
 * (default BUSY_RETRY_MS); any other error, or the last busy one, is thrown as it came. Used on
 * every platform: on Linux these codes are permanent (permissions), so retrying only delays their
 * report by the budget.
 *
 * graceful-fs is not used for this: it retries only the callback `fs.rename`, only on win32, only
 * when the destination does not exist yet (so never the write-then-rename-over-it of an atomic
 * replace), never unlink, and its `gracefulify` leaves `fs.promises` (what this code base uses)
 * unpatched.
 */
export async function retryWhileBusy<T>(op: () => Promise<T>, budgetMs: number = BUSY_RETRY_MS): Promise<T> {
  const started = Date.now();
  return retry(op, {
    attempts: Number.POSITIVE_INFINITY,
    retryIf: (err) => BUSY_CODES.has((err as NodeJS.ErrnoException).code ?? '') && Date.now() - started < budgetMs,
    delayMs: (attempt) => Math.min(attempt * BACKOFF_STEP_MS, BACKOFF_MAX_MS),
  });
}

/** fs.promises.rename, retried while the file is held by another program (see retryWhileBusy). */
export function renameRetrying(from: string, to: string, budgetMs?: number): Promise<void> {
  return retryWhileBusy(() => fsp.rename(from, to), budgetMs);
}

/** fs.promises.unlink, retried while the file is held by another program (see retryWhileBusy). */
export function unlinkRetrying(file: string, budgetMs?: number): Promise<void> {
  return retryWhileBusy(() => fsp.unlink(file), budgetMs);
}
