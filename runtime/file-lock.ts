// runtime/file-lock.ts
// An inter-process lock on one machine: a hard link to this process's owner file (a directory where the file system has no hard links), taken over when the owner died.

import { randomBytes } from 'node:crypto';
import { promises as fsp, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { BtcError } from './errors.ts';
import { BUSY_RETRY_MS, retryWhileBusy } from './fs-retry.ts';

export interface FileLockOptions {
  /** A lock older than this was left by a crashed owner and is taken over (ms). */
  staleMs: number;
  /** Give up with Unavailable after waiting this long (ms); wait for ever when absent. */
  waitMs?: number;
  /** Named in the Unavailable error. */
  what?: string;
}

/** Owner files are named `<OWNER_PREFIX><pid>-<random>` and hold `<pid>:<random>`. */
const OWNER_PREFIX = '.lock-owner-';
let token: string | undefined;
/** `<pid>:<random>`, drawn on first use: a bundle that never locks (the worker) may not draw random values at load. */
const tokenOf = (): string => (token ??= `${process.pid}:${randomBytes(6).toString('hex')}`);
const ownerNameOf = (): string => `${OWNER_PREFIX}${tokenOf().replace(':', '-')}`;
const owners = new Map<string, Promise<string>>();

/**
 * How the locks of one folder are taken. `hardlink`: link(2) of the process's owner file (NTFS,
 * ext4, APFS, …). `directory`: mkdir(2) of the lock's name, then an `owner` file inside it; for
 * file systems without hard links (FAT32, exFAT, many SMB shares, older ReFS), where creating a
 * directory is still atomic. Both kinds occupy the same name, so processes that chose differently
 * (one forced by BTC_TS_LOCK_KIND) still exclude each other.
 */
export type LockKind = 'hardlink' | 'directory';
/** `auto` (default: hard links where the folder has them), `hardlink` or `directory`. */
export const LOCK_KIND_ENV = 'BTC_TS_LOCK_KIND';
/**
 * What link(2) answers on a file system without hard links: EPERM (Linux vfat/exfat, exFAT over
 * FUSE), ENOSYS (FUSE without link), ENOTSUP/EOPNOTSUPP (SMB), EISDIR (libuv's name for Windows'
 * ERROR_INVALID_FUNCTION on FAT), EMLINK, EACCES, EXDEV, EINVAL. A refusal with one of these is
 * checked with a probe (detectLockKind) before a folder changes kind: on Windows the same codes
 * also come from a scanner holding the owner file for a moment.
 */
const NO_HARD_LINK_CODES = new Set(['EPERM', 'EACCES', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EISDIR', 'EXDEV', 'EINVAL']);
/** The file inside a directory lock that names its owner (`<pid>:<random>`). */
const DIRECTORY_LOCK_OWNER = 'owner';
/** Folders whose locks are directories (found without hard links, or forced). */
const directoryKind = new Set<string>();

/**
 * Takes the lock and resolves with its release.
 *
 * Each process writes one owner file per lock folder, once, holding its pid; taking a lock is
 * link(2) of that file to the lock's name. That is one syscall that either fails with EEXIST or
 * leaves a lock that already names its owner (a lock written with open(O_EXCL) + write can be left
 * empty by a kill -9 between the two), and it allocates no inode: on a busy disk, creating a new
 * file or symlink per lock cost up to 40× more CPU than linking an existing one.
 *
 * Where a folder has no hard links (the first refused link is checked with detectLockKind), its
 * locks are directories instead (see LockKind): slower, and a crash between mkdir and writing the
 * owner leaves a lock that waits out staleMs, but just as exclusive.
 * @throws BtcError Unavailable when waitMs ran out; the file system's error (ENOSPC, EROFS, …) as it came.
 */
export async function acquireFileLock(lock: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const dir = path.dirname(lock);
  const deadline = options.waitMs === undefined ? Infinity : Date.now() + options.waitMs;
  let firstRefusal: number | undefined;
  for (let attempt = 0; ; attempt++) {
    const kind = lockKindIn(dir);
    try {
      if (kind === 'directory') {
        await takeDirectoryLock(lock);
        return () => removeDirectoryLock(lock).catch(ignoreMissing);
      }
      await fsp.link(await ownerFileIn(dir), lock);
      // A plain unlink: the lock could only have passed to someone else had we held it past staleMs,
      // and critical sections last milliseconds.
      return () => retryWhileBusy(() => fsp.unlink(lock)).catch(ignoreMissing);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOENT' && attempt < 3 && (await fsp.access(dir).then(() => true, () => false))) {
        owners.delete(dir); // our owner file was removed from under us: write it again
        continue;
      }
      if (kind === 'hardlink' && NO_HARD_LINK_CODES.has(code)) {
        if ((await detectLockKind(dir)) === 'directory') {
          // This folder has no hard links (FAT, exFAT, an SMB share): directory locks from now on.
          directoryKind.add(dir);
          await dropOwnerFile(dir);
          continue;
        }
        // Hard links work here: the refusal is passing (a scanner holding the owner file, the name
        // of a lock just released still pending deletion on Windows); thrown when it lasts.
        firstRefusal ??= Date.now();
        if (Date.now() - firstRefusal > BUSY_RETRY_MS) throw err;
      } else if (code !== 'EEXIST') throw err;
    }
    await breakIfAbandoned(lock, options.staleMs);
    if (Date.now() > deadline) throw new BtcError('Unavailable', `lock on ${options.what ?? lock} not released`);
    await new Promise((r) => setTimeout(r, Math.min(1 + attempt, 20) * Math.random()));
  }
}

/**
 * Whether the folder `dir` (which must exist) has hard links: links a fresh probe file and removes
 * both. `BTC_TS_LOCK_KIND=hardlink|directory` overrides the answer. `runtime whatif` and the start
 * log report it for the data directory; acquireFileLock asks it for any folder whose link is refused.
 * @throws the probe's error when it is not one that means "no hard links" (ENOSPC, EROFS, …).
 * @throws BtcError InvalidInput for a BTC_TS_LOCK_KIND other than auto, hardlink, directory.
 */
export async function detectLockKind(dir: string): Promise<LockKind> {
  const forced = forcedLockKind();
  if (forced) return forced;
  const probe = path.join(dir, `.lock-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.writeFile(probe, '');
  try {
    await fsp.link(probe, `${probe}.link`);
    await fsp.unlink(`${probe}.link`).catch(() => undefined);
    return 'hardlink';
  } catch (err) {
    if (NO_HARD_LINK_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return 'directory';
    throw err;
  } finally {
    await fsp.unlink(probe).catch(() => undefined);
  }
}

/** The kind this process uses for the locks in `dir` right now (hard links until a link is refused). */
export function lockKindIn(dir: string): LockKind {
  return directoryKind.has(dir) ? 'directory' : (forcedLockKind() ?? 'hardlink');
}

/** One line for whatif and the start log: which lock the data directory gets, and why. */
export function describeLockKind(kind: LockKind, dir: string): string {
  const forced = forcedLockKind() ? ` (forced by ${LOCK_KIND_ENV})` : '';
  return kind === 'hardlink'
    ? `hard-link locks in ${dir}${forced}`
    : `directory locks in ${dir}${forced || ': this file system has no hard links (FAT32, exFAT, an SMB share?)'}`;
}

function forcedLockKind(): LockKind | null {
  const value = process.env[LOCK_KIND_ENV];
  if (!value || value === 'auto') return null;
  if (value === 'hardlink' || value === 'directory') return value;
  throw new BtcError('InvalidInput', `${LOCK_KIND_ENV} must be auto, hardlink or directory, not ${JSON.stringify(value)}`);
}

/**
 * mkdir(2) of the lock's name (EEXIST when anyone holds it, as a directory or as a hard link),
 * then the owner file inside. A crash between the two leaves a lock that names nobody: it is
 * taken over once older than staleMs, like an empty lock file of the earlier format.
 */
async function takeDirectoryLock(lock: string): Promise<void> {
  // EPERM/EACCES while the name of a lock just released is still pending deletion (Windows).
  await retryWhileBusy(() => fsp.mkdir(lock));
  try {
    await fsp.writeFile(path.join(lock, DIRECTORY_LOCK_OWNER), tokenOf());
  } catch (err) {
    await removeDirectoryLock(lock).catch(() => undefined);
    throw err;
  }
}

/**
 * Removes the owner file, then the directory (two syscalls). When that fails for another reason than
 * the lock being gone (a scanner holding the owner file, a delete still pending on Windows, a stray
 * file), Node's recursive rm, which retries EBUSY, EPERM and ENOTEMPTY.
 * @throws ENOENT when the lock is not there.
 */
async function removeDirectoryLock(lock: string): Promise<void> {
  try {
    await fsp.unlink(path.join(lock, DIRECTORY_LOCK_OWNER)).catch(ignoreMissing);
    await fsp.rmdir(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    await fsp.rm(lock, { recursive: true, maxRetries: 5, retryDelay: 20 });
  }
}

/** Owner files are for hard links; a folder that turned out to have none keeps no owner file. */
async function dropOwnerFile(dir: string): Promise<void> {
  const found = owners.get(dir);
  owners.delete(dir);
  if (found) await found.then((file) => fsp.unlink(file)).catch(() => undefined);
}

/** This process's owner file in `dir` (written on first use; owner files of dead processes are swept then). */
function ownerFileIn(dir: string): Promise<string> {
  let found = owners.get(dir);
  if (!found) {
    found = (async () => {
      removeOwnersOnExit();
      const file = path.join(dir, ownerNameOf());
      await fsp.writeFile(file, tokenOf());
      await sweepDeadOwners(dir);
      return file;
    })();
    found.catch(() => owners.delete(dir)); // a later lock tries again
    owners.set(dir, found);
  }
  return found;
}

/** A lock whose owner process is gone, or that nobody touched for staleMs, was left by a crash. */
async function breakIfAbandoned(lock: string, staleMs: number): Promise<void> {
  const held = await identify(lock);
  if (!held) return; // released meanwhile
  if (!ownerAlive(held.token) || Date.now() - held.changedMs > staleMs) {
    // Identify it again just before removal, so a lock taken meanwhile is never removed by mistake.
    const again = await identify(lock);
    if (again && again.token === held.token && again.changedMs === held.changedMs) {
      if (again.directory) {
        await removeDirectoryLock(lock).catch(ignoreMissing);
        return;
      }
      await retryWhileBusy(() => fsp.unlink(lock)).catch(ignoreMissing);
      await sweepDeadOwners(path.dirname(lock)); // the crashed owner's file held only this lock, maybe
    }
  }
}

/**
 * Who holds a lock and when its owner last took or released one (the inode's ctime moves on every
 * link and unlink). A regular file written by an older version holds the token as well; one left
 * empty names nobody and only ages out. A directory lock names its owner in its `owner` file,
 * taken when that was written; without one (a crash right after mkdir) it names nobody either.
 */
async function identify(lock: string): Promise<{ token: string; changedMs: number; directory: boolean } | null> {
  try {
    const stat = await fsp.lstat(lock);
    if (stat.isDirectory()) {
      const owner = path.join(lock, DIRECTORY_LOCK_OWNER);
      const ownerStat = await fsp.stat(owner).catch(() => null);
      const token = ownerStat ? await fsp.readFile(owner, 'utf8').catch(() => '') : '';
      return { token, changedMs: ownerStat ? ownerStat.mtimeMs : stat.mtimeMs, directory: true };
    }
    // A symlink lock (an earlier format) names its owner in its target.
    const token = stat.isSymbolicLink() ? await fsp.readlink(lock) : await fsp.readFile(lock, 'utf8');
    // Linked to an owner file: the inode's ctime moved when the lock was taken. A lone file: its mtime.
    return { token, changedMs: stat.nlink > 1 ? stat.ctimeMs : stat.mtimeMs, directory: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A token that names no pid (an empty lock) counts as alive: such a lock only ages out. */
function ownerAlive(token: string): boolean {
  const pid = Number(token.split(':')[0]);
  return !(Number.isInteger(pid) && pid > 0) || processAlive(pid);
}

/** Owner files of processes that are gone and that hold no lock any more (one link left). */
async function sweepDeadOwners(dir: string): Promise<void> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(OWNER_PREFIX) || name === ownerNameOf()) continue;
    const pid = Number(name.slice(OWNER_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || processAlive(pid)) continue;
    const file = path.join(dir, name);
    const stat = await fsp.lstat(file).catch(() => null);
    if (stat && stat.nlink === 1) await fsp.unlink(file).catch(ignoreMissing);
  }
}

// Owner files go with the process; a crash leaves them for the next process to sweep.
/** Removes this process's owner files on exit; hooked with the first one (a bundle that never locks — the worker — has no process.once). */
let exitHooked = false;
function removeOwnersOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const dir of owners.keys()) {
      try {
        unlinkSync(path.join(dir, ownerNameOf()));
      } catch {
        // gone already, or the folder with it
      }
    }
  });
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Test hook: the owner files in a folder (to check that dead owners are swept). */
export function ownerFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(OWNER_PREFIX));
}
