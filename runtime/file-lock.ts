// runtime/file-lock.ts
// An inter-process lock on one machine: a symlink whose target names the owner's pid, taken over when the owner died.

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { BtcError } from './errors.ts';

export interface FileLockOptions {
  /** A lock older than this was left by a crashed owner and is taken over (ms). */
  staleMs: number;
  /** Give up with Unavailable after waiting this long (ms); wait for ever when absent. */
  waitMs?: number;
  /** Named in the Unavailable error. */
  what?: string;
}

/**
 * Takes the lock and resolves with its release.
 *
 * The lock is a symlink created with symlink(2): one syscall that either fails with EEXIST or
 * leaves a lock that already names its owner. A lock file written with open(O_EXCL) + write can
 * be left empty by a kill -9 between the two calls, and an empty lock names nobody to check.
 */
export async function acquireFileLock(lock: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const token = `${process.pid}:${randomBytes(6).toString('hex')}`;
  const deadline = options.waitMs === undefined ? Infinity : Date.now() + options.waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.symlink(token, lock);
      // A plain unlink: the lock could only have passed to someone else had we held it past staleMs,
      // and critical sections last milliseconds. Reading it back first doubled the cost of every write.
      return () => fsp.rm(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await breakIfAbandoned(lock, options.staleMs);
    if (Date.now() > deadline) throw new BtcError('Unavailable', `lock on ${options.what ?? lock} not released`);
    await new Promise((r) => setTimeout(r, Math.min(1 + attempt, 20) * Math.random()));
  }
}

/** A lock whose owner process is gone, or that is older than staleMs, was left by a crash. */
async function breakIfAbandoned(lock: string, staleMs: number): Promise<void> {
  const [held, stat] = await Promise.all([readOwner(lock), fsp.lstat(lock).catch(() => null)]);
  if (held === null || !stat) return; // released meanwhile
  const owner = Number(held.split(':')[0]);
  const ownerGone = Number.isInteger(owner) && owner > 0 && !processAlive(owner);
  if (ownerGone || Date.now() - stat.mtimeMs > staleMs) {
    // Re-read just before removal so a fresh lock taken meanwhile is never removed by mistake.
    if ((await readOwner(lock)) === held) await fsp.rm(lock, { force: true });
  }
}

/** The owner token of a lock, '' for a lock that names nobody (a legacy regular file), null when absent. */
async function readOwner(lock: string): Promise<string | null> {
  try {
    return await fsp.readlink(lock);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code !== 'EINVAL') throw err;
  }
  // A regular file: a lock written by an older version (its content is the token, possibly torn empty).
  return fsp.readFile(lock, 'utf8').catch(() => null);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
