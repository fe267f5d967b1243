// runtime/durable.ts
// Writing local files durably: whole-or-nothing appends, tmp → fsync → rename → dir fsync, and file-system errors named (disk_full, io_error).

import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from './errors.ts';

/** errno codes that mean "no room": the device, or this user's quota, is full. */
const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);
/** errno codes that mean the device itself failed or went read-only. */
const IO_ERROR_CODES = new Set(['EIO', 'EROFS']);

/** The status cause of a local file-system failure: `disk_full`, `io_error`, or null for any other error. */
export function diskCauseOf(err: unknown): 'disk_full' | 'io_error' | null {
  if (err instanceof BtcError) return err.code === 'DiskFull' ? 'disk_full' : err.code === 'IoError' ? 'io_error' : null;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && DISK_FULL_CODES.has(code)) return 'disk_full';
  if (code && IO_ERROR_CODES.has(code)) return 'io_error';
  return null;
}

/**
 * A local file-system error as a BtcError: ENOSPC/EDQUOT → `DiskFull`, EIO/EROFS → `IoError`, any
 * other errno → `Unavailable`; a BtcError passes through. `what` names the file or key (no secrets).
 */
export function fsError(err: unknown, what: string, details: Record<string, unknown> = {}): BtcError {
  if (err instanceof BtcError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown';
  const cause = diskCauseOf(err);
  const options = { cause: err, details: { ...details, errno: code } };
  if (cause === 'disk_full') return new BtcError('DiskFull', `disk full (${code}) writing ${what}`, options);
  if (cause === 'io_error') return new BtcError('IoError', `i/o error (${code}) at ${what}`, options);
  return new BtcError('Unavailable', `filesystem error ${code} at ${what}`, options);
}

/** What an append needs of an open file: Node's FileHandle has it; tests hand in one that writes short. */
export interface AppendHandle {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}

export type OpenForAppend = (file: string) => Promise<AppendHandle>;

export const openForAppend: OpenForAppend = (file) => fsp.open(file, 'a');

/**
 * Appends `bytes` to `file` whole or not at all, and fsyncs it before resolving. Short writes are
 * continued until every byte is down; on any write or fsync error the file is cut back to its size
 * before the call (and that fsynced too, best effort) and a BtcError is thrown (`DiskFull`,
 * `IoError`, `Unavailable`, see fsError). When the append created the file, its directory is
 * fsynced as well, so the new name survives a power cut.
 * Resolves with the file's size before and after (bytes).
 */
export async function appendDurable(file: string, bytes: Buffer, open: OpenForAppend = openForAppend): Promise<{ before: number; after: number }> {
  let handle: AppendHandle;
  try {
    handle = await open(file);
  } catch (err) {
    throw fsError(err, file);
  }
  let before = 0;
  try {
    before = (await handle.stat()).size;
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
      if (bytesWritten <= 0) throw Object.assign(new Error(`write made no progress at ${written}/${bytes.length} bytes`), { code: 'EIO' });
      written += bytesWritten;
    }
    await handle.sync();
  } catch (err) {
    await handle
      .truncate(before)
      .then(() => handle.sync())
      .catch(() => undefined); // the torn tail is cut again on the next open (wholeRecords)
    await handle.close().catch(() => undefined);
    throw fsError(err, file);
  }
  await handle.close().catch(() => undefined);
  if (before === 0) await fsyncDir(path.dirname(file));
  return { before, after: before + bytes.length };
}

/**
 * Writes `file` durably: a temp file next to it is written and fsynced, renamed over `file`, and
 * the directory fsynced. The temp file is removed on every failure path. Throws fsError's codes.
 */
export async function writeFileDurable(file: string, body: Buffer | string): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeSynced(tmp, body);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(err, file);
  }
  await fsyncDir(path.dirname(file));
}

/** Creates or truncates `file`, writes `body` and fsyncs it (no rename, no directory fsync); errors as Node gives them. */
export async function writeSynced(file: string, body: Buffer | string): Promise<void> {
  const handle = await fsp.open(file, 'w');
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * fsyncs a directory so that a create or rename inside it survives a power cut. Windows cannot
 * open a directory for fsync (EISDIR/EPERM); NTFS journals the rename itself, so that is skipped.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await fsp.open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch {
    // EINVAL/EISDIR on platforms that do not fsync directories: the rename is still atomic.
  } finally {
    await handle.close().catch(() => undefined);
  }
}
