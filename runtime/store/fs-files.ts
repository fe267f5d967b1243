// runtime/store/fs-files.ts
// FsStore's files and folders: the fsynced temp file, create-only link, move into a folder, pruning of emptied folders.

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsError, writeSynced } from '../durable.ts';
import type { BtcError } from '../errors.ts';

/** Emptied folders are pruned this long after the delete that emptied them (ms). */
const PRUNE_DELAY_MS = 200;

/** Writes and fsyncs a temp file in `tmpDir`; on failure (a full disk) removes it and throws fsError's codes. */
export async function writeTemp(tmpDir: string, bytes: Buffer, key: string): Promise<string> {
  const tmp = path.join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
  try {
    await writeSynced(tmp, bytes);
    return tmp;
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw unavailable(err, key);
  }
}

/**
 * Reads a file of known size (bytes) in one call (a file that shrank meanwhile is read up to its
 * end) into `allocate(size)`: a fresh Buffer by default, or one the caller reuses.
 */
export async function readWhole(handle: FileHandle, size: number, allocate: (size: number) => Buffer = (n) => Buffer.allocUnsafe(n)): Promise<Buffer> {
  const body = allocate(size);
  if (body.length !== size) throw new RangeError(`read buffer of ${body.length} bytes for ${size}`);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(body, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === size ? body : body.subarray(0, filled);
}

/**
 * Makes `file`'s folder and runs a link or rename into it. A delete (in this or another process)
 * may prune that folder, or a parent, while it is empty for a moment: then mkdir or the move meets
 * ENOENT, and both are simply done again.
 */
export async function intoDir(file: string, move: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      return await move();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 10) throw err;
    }
  }
}

/**
 * Moves `tmp` to `file` only when `file` does not exist (EEXIST otherwise). link() does it
 * atomically; a file system without hard links (exFAT, FAT32, some SMB shares) answers EPERM, and
 * then a look and a rename do it — safe because every FsStore writer of the key holds its key
 * lock (a directory lock there, see file-lock.ts).
 */
export async function createOnly(tmp: string, file: string): Promise<void> {
  try {
    await fsp.link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    if (await fsp.access(file).then(() => true, () => false)) throw Object.assign(new Error(`${file} exists`), { code: 'EEXIST' });
    await fsp.rename(tmp, file);
  }
}

/**
 * Folders emptied by deletes, removed in batches: a backlog of thousands of segments in one dt=
 * folder would otherwise try (and fail) an rmdir after every single delete.
 */
export class PruneQueue {
  private readonly dirs = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly root: string) {}

  schedule(dir: string): void {
    this.dirs.add(dir);
    this.timer ??= setTimeout(() => void this.flush(), PRUNE_DELAY_MS).unref();
  }

  /** Prunes every scheduled folder now (and waits for a batch already under way). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const dirs = [...this.dirs].sort().reverse(); // deepest first
    this.dirs.clear();
    this.running = this.running.then(async () => {
      for (const dir of dirs) await this.pruneUp(dir);
    });
    return this.running;
  }

  private async pruneUp(dir: string): Promise<void> {
    for (let current = dir; current.startsWith(this.root + path.sep); current = path.dirname(current)) {
      try {
        await fsp.rmdir(current);
      } catch {
        return; // not empty, or already gone
      }
    }
  }
}

/** unlink without rm's extra lstat; absent is fine. */
export async function removeIfPresent(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

export function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** A file-system failure at `key`: DiskFull / IoError / Unavailable (durable.ts fsError). */
export function unavailable(err: unknown, key: string): BtcError {
  return fsError(err, key, { key });
}
