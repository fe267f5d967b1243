// runtime/file-lock.ts
// An inter-process lock on one machine: an O_EXCL lock file holding the owner's pid, taken over when the owner died.

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

/** Takes the lock file (creating it with O_EXCL) and resolves with its release. */
export async function acquireFileLock(lock: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const token = `${process.pid}:${randomBytes(6).toString('hex')}`;
  const deadline = options.waitMs === undefined ? Infinity : Date.now() + options.waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.writeFile(lock, token, { flag: 'wx' });
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
  const [held, stat] = await Promise.all([fsp.readFile(lock, 'utf8').catch(() => ''), fsp.stat(lock).catch(() => null)]);
  if (!held || !stat) return;
  const owner = Number(held.split(':')[0]);
  const ownerGone = Number.isInteger(owner) && owner > 0 && !processAlive(owner);
  if (ownerGone || Date.now() - stat.mtimeMs > staleMs) {
    // Re-read just before removal so a fresh lock taken meanwhile is never removed by mistake.
    if ((await fsp.readFile(lock, 'utf8').catch(() => '')) === held) await fsp.rm(lock, { force: true });
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
