// runtime/file-lock.ts
// An inter-process lock on one machine: a hard link to this process's owner file, taken over when the owner died.

import { randomBytes } from 'node:crypto';
import { promises as fsp, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { BtcError } from './errors.ts';

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
 * Takes the lock and resolves with its release.
 *
 * Each process writes one owner file per lock folder, once, holding its pid; taking a lock is
 * link(2) of that file to the lock's name. That is one syscall that either fails with EEXIST or
 * leaves a lock that already names its owner (a lock written with open(O_EXCL) + write can be left
 * empty by a kill -9 between the two), and it allocates no inode: on a busy disk, creating a new
 * file or symlink per lock cost up to 40× more CPU than linking an existing one.
 */
export async function acquireFileLock(lock: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const deadline = options.waitMs === undefined ? Infinity : Date.now() + options.waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.link(await ownerFileIn(path.dirname(lock)), lock);
      // A plain unlink: the lock could only have passed to someone else had we held it past staleMs,
      // and critical sections last milliseconds.
      return () => fsp.unlink(lock).catch(ignoreMissing);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && attempt < 3 && (await fsp.access(path.dirname(lock)).then(() => true, () => false))) {
        owners.delete(path.dirname(lock)); // our owner file was removed from under us: write it again
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    await breakIfAbandoned(lock, options.staleMs);
    if (Date.now() > deadline) throw new BtcError('Unavailable', `lock on ${options.what ?? lock} not released`);
    await new Promise((r) => setTimeout(r, Math.min(1 + attempt, 20) * Math.random()));
  }
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
      await fsp.unlink(lock).catch(ignoreMissing);
      await sweepDeadOwners(path.dirname(lock)); // the crashed owner's file held only this lock, maybe
    }
  }
}

/**
 * Who holds a lock and when its owner last took or released one (the inode's ctime moves on every
 * link and unlink). A regular file written by an older version holds the token as well; one left
 * empty names nobody and only ages out.
 */
async function identify(lock: string): Promise<{ token: string; changedMs: number } | null> {
  try {
    const stat = await fsp.lstat(lock);
    // A symlink lock (an earlier format) names its owner in its target.
    const token = stat.isSymbolicLink() ? await fsp.readlink(lock) : await fsp.readFile(lock, 'utf8');
    // Linked to an owner file: the inode's ctime moved when the lock was taken. A lone file: its mtime.
    return { token, changedMs: stat.nlink > 1 ? stat.ctimeMs : stat.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

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
