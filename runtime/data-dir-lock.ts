// runtime/data-dir-lock.ts
// One runtime per data directory: `<dataDir>/runtime.lock` names its holder (pid, port, host); a second start is refused.

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BtcError } from './errors.ts';
import { processAlive } from './file-lock.ts';
import { retryWhileBusy } from './fs-retry.ts';

export const DATA_DIR_LOCK_NAME = 'runtime.lock';

/** What the lock file holds (JSON). */
export interface DataDirLockHolder {
  pid: number;
  port: number;
  /** BTC_TS_HOST of the holder. */
  host: string;
  started_at: string;
  /** When the holder's machine booted (ms since epoch, ±1 s): a lock from before a reboot is stale even if its pid was reused. */
  boot_ms: number;
}

export interface DataDirLock {
  path: string;
  /** Removes the lock if it is still ours; safe to call twice. */
  release(): Promise<void>;
}

/**
 * An empty lock is the `wx` fallback between its create and its write (microseconds), or what a
 * crash right then left: past this age (ms) it is stale. FAT stores times to 2 s.
 */
const EMPTY_LOCK_STALE_MS = 5_000;

/** Two boot-time readings of one boot differ by rounding and clock steps; a reboot moves it by far more. */
const SAME_BOOT_TOLERANCE_MS = 60_000;

/**
 * Takes `<dataDir>/runtime.lock` for this process.
 *
 * The content is written to a private file first and then hard-linked to the lock name: link()
 * either fails with EEXIST or leaves a lock that already names its holder (the same technique as
 * runtime/file-lock.ts; that module's shared owner files carry only a pid, and this lock must name
 * a port and survive reboots, hence its own small file). Where the file system has no hard links
 * (FAT/exFAT drives), an exclusive create (`wx`) is the fallback. A lock whose pid is gone, or that
 * was taken before this machine last booted, is stale and taken over.
 * @throws BtcError InvalidInput (exit 2) naming the live holder's pid, port and host.
 */
export async function acquireDataDirLock(dataDir: string, self: { host: string; port: number }): Promise<DataDirLock> {
  await fsp.mkdir(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, DATA_DIR_LOCK_NAME);
  const holder: DataDirLockHolder = { pid: process.pid, port: self.port, host: self.host, started_at: new Date().toISOString(), boot_ms: bootMs() };
  const content = JSON.stringify(holder);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await tryCreate(lockPath, content)) {
      return {
        path: lockPath,
        release: async () => {
          const now = await fsp.readFile(lockPath, 'utf8').catch(() => null);
          if (now === content) await retryWhileBusy(() => fsp.unlink(lockPath)).catch(() => undefined);
        },
      };
    }
    const seen = await fsp.readFile(lockPath, 'utf8').catch(() => null);
    if (seen === null) continue; // released meanwhile
    const other = parseHolder(seen);
    if (seen === '' && !(await emptyLockAbandoned(lockPath))) {
      await new Promise((r) => setTimeout(r, 50)); // the `wx` fallback between create and write
      attempt--;
      continue;
    } else if (other && holderAlive(other)) {
      throw new BtcError(
        'InvalidInput',
        `another runtime (pid ${other.pid}, port ${other.port}, host ${other.host}) is using this data directory ${dataDir} since ${other.started_at}. ` +
          `Stop it first, or give this one its own BTC_TS_DATA_DIR. If pid ${other.pid} is not a btc-ts runtime, delete ${lockPath}.`,
      );
    }
    // Stale (dead pid, earlier boot, or unreadable). Look again just before removing it, so a lock
    // another starter took meanwhile is never removed by mistake.
    if ((await fsp.readFile(lockPath, 'utf8').catch(() => null)) === seen) await retryWhileBusy(() => fsp.unlink(lockPath)).catch(() => undefined);
  }
  throw new BtcError('Unavailable', `could not take ${lockPath}: other runtimes keep starting on this data directory`);
}

/** Reads the lock's holder without taking it (null when free or unreadable). */
export async function readDataDirLock(dataDir: string): Promise<DataDirLockHolder | null> {
  const text = await fsp.readFile(path.join(dataDir, DATA_DIR_LOCK_NAME), 'utf8').catch(() => null);
  return text === null ? null : parseHolder(text);
}

async function tryCreate(lockPath: string, content: string): Promise<boolean> {
  const privateFile = `${lockPath}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await fsp.writeFile(privateFile, content);
  try {
    await fsp.link(privateFile, lockPath);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // No hard links here (FAT, exFAT, some network shares; see NO_HARD_LINK_CODES in file-lock.ts),
    // or a scanner holding the private file: an exclusive create, written right after.
    try {
      await fsp.writeFile(lockPath, content, { flag: 'wx' });
      return true;
    } catch (fallbackErr) {
      if ((fallbackErr as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw fallbackErr;
    }
  } finally {
    await fsp.unlink(privateFile).catch(() => undefined);
  }
}

/** An empty lock file older than EMPTY_LOCK_STALE_MS (false when it is gone or was written meanwhile). */
async function emptyLockAbandoned(lockPath: string): Promise<boolean> {
  const stat = await fsp.stat(lockPath).catch(() => null);
  return stat !== null && stat.size === 0 && Date.now() - stat.mtimeMs > EMPTY_LOCK_STALE_MS;
}

function parseHolder(text: string): DataDirLockHolder | null {
  try {
    const v = JSON.parse(text) as Partial<DataDirLockHolder>;
    if (typeof v.pid !== 'number' || typeof v.boot_ms !== 'number') return null;
    return { pid: v.pid, port: Number(v.port), host: String(v.host), started_at: String(v.started_at), boot_ms: v.boot_ms };
  } catch {
    return null;
  }
}

function holderAlive(holder: DataDirLockHolder): boolean {
  if (Math.abs(holder.boot_ms - bootMs()) > SAME_BOOT_TOLERANCE_MS) return false;
  return holder.pid !== process.pid && processAlive(holder.pid);
}

function bootMs(): number {
  return Date.now() - Math.round(os.uptime() * 1000);
}
