// runtime/store/fs.ts
// FsStore: a directory that behaves like a bucket (the embedded default primary and the local cache).

import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsError, fsyncDir } from '../durable.ts';
import { BtcError } from '../errors.ts';
import { acquireFileLock } from '../file-lock.ts';
import { validateKey, validatePrefix } from './key-rules.ts';
import type { DeleteOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult } from './types.ts';

export interface FsStoreOptions {
  /** The directory that plays the bucket; created when missing. */
  root: string;
  /** A lock older than this is considered abandoned by a crashed writer (ms). */
  staleLockMs?: number;
  /** How long a writer waits for a per-key lock before giving up with Unavailable (ms). */
  lockWaitMs?: number;
}

/** Internal folder inside the root for temp files and locks; keys may not start with it. */
const INTERNAL_DIR = '.btc-store';
const DEFAULT_STALE_LOCK_MS = 10_000;
const DEFAULT_LOCK_WAIT_MS = 5_000;
const MAX_PAGE = 1000;
/** Emptied folders are pruned this long after the delete that emptied them (ms). */
const PRUNE_DELAY_MS = 200;
/** Files described in parallel while listing (bounded so a huge directory does not open thousands at once). */
const LIST_READ_BATCH = 32;

export function createFsStore(options: FsStoreOptions): ObjectStore {
  return new FsStore(options);
}

class FsStore implements ObjectStore {
  readonly describe: string;
  private readonly root: string;
  private readonly tmpDir: string;
  private readonly lockDir: string;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;
  private ready: Promise<void> | undefined;
  private readonly prunes: PruneQueue;

  constructor(options: FsStoreOptions) {
    this.root = path.resolve(options.root);
    this.tmpDir = path.join(this.root, INTERNAL_DIR, 'tmp');
    this.lockDir = path.join(this.root, INTERNAL_DIR, 'locks');
    this.staleLockMs = options.staleLockMs ?? DEFAULT_STALE_LOCK_MS;
    this.lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
    this.describe = `fs:${this.root}`;
    this.prunes = new PruneQueue(this.root);
  }

  async get(key: string): Promise<GetResult> {
    const found = await this.getOrNull(key);
    if (!found) throw new BtcError('NotFound', `no object at ${key}`, { details: { key } });
    return found;
  }

  async getOrNull(key: string): Promise<GetResult | null> {
    const file = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch (err) {
      if (isMissing(err)) return null;
      throw unavailable(err, key);
    }
    // One open file answers both the bytes and the mtime: an object replaced meanwhile (rename) is
    // still read whole and consistent, from the inode that was opened.
    try {
      const stat = await handle.stat();
      const body = await readWhole(handle, stat.size);
      return withLazyEtag({ key, body, size: body.length, lastModified: stat.mtimeMs });
    } catch (err) {
      throw unavailable(err, key);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    const found = await this.getOrNull(key);
    if (!found) return null;
    const { body: _body, ...info } = found;
    return info;
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<PutResult> {
    const file = this.pathOf(key);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const etag = etagOf(bytes);
    if (options.md5 !== undefined && options.md5 !== etag) {
      throw new BtcError('InvalidInput', `body does not match its MD5 at ${key}`, { details: { key } });
    }
    await this.ensureDirs().catch((err) => {
      this.ready = undefined;
      throw unavailable(err, key);
    });
    const tmp = await this.writeTemp(bytes, key);
    try {
      if (options.ifNoneMatch === '*') {
        // link() fails with EEXIST when the key exists: an atomic create-if-absent, even across processes.
        await this.withKeyLock(key, async () => {
          try {
            await intoDir(file, () => createOnly(tmp, file));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
              throw new BtcError('PreconditionFailed', `object exists at ${key}`, { details: { key } });
            }
            throw err;
          }
        });
      } else {
        await this.withKeyLock(key, async () => {
          if (options.ifMatch !== undefined) {
            const current = await fsp.readFile(file).catch((err) => {
              if (isMissing(err)) throw new BtcError('NotFound', `no object at ${key} to match`, { details: { key } });
              throw err;
            });
            if (etagOf(current) !== stripQuotes(options.ifMatch)) {
              throw new BtcError('PreconditionFailed', `etag mismatch at ${key}`, { details: { key } });
            }
          }
          await intoDir(file, () => fsp.rename(tmp, file));
        });
      }
      await fsyncDir(path.dirname(file));
      return { key, etag };
    } catch (err) {
      if (err instanceof BtcError) throw err;
      throw unavailable(err, key);
    } finally {
      // The link (create-only) leaves the temp name behind, and a failed write must not keep the
      // disk full: the temp file goes on every path.
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    await this.ensureDirs();
    await this.withKeyLock(key, async () => {
      if (options.ifMatch !== undefined) {
        const current = await fsp.readFile(file).catch((err) => {
          if (isMissing(err)) return null;
          throw unavailable(err, key);
        });
        if (current === null) return;
        if (etagOf(current) !== stripQuotes(options.ifMatch)) {
          throw new BtcError('PreconditionFailed', `etag mismatch at ${key}: not deleted`, { details: { key } });
        }
      }
      await removeIfPresent(file);
    });
    this.prunes.schedule(path.dirname(file));
  }

  /** Removes the folders that deletes left empty (they are pruned in batches, shortly after). */
  flush(): Promise<void> {
    return this.prunes.flush();
  }

  async listPage(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    const limit = Math.min(Math.max(options.limit ?? MAX_PAGE, 1), MAX_PAGE);
    const startAfter = options.startAfter ?? '';
    const objects: ObjectInfo[] = [];
    // Walk from the deepest directory the prefix names, in true lexicographic key order.
    validatePrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const baseKey = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    if (baseKey) validateFsKey(baseKey.slice(0, -1));
    for await (const info of this.walk(baseKey, prefix, startAfter, options.etags !== false)) {
      if (objects.length === limit) {
        return { objects, nextStartAfter: objects[objects.length - 1]!.key };
      }
      objects.push(info);
    }
    return { objects };
  }

  /** Yields objects under `dirKey` whose key starts with `prefix` and is > startAfter, sorted. */
  private async *walk(dirKey: string, prefix: string, startAfter: string, withEtags: boolean): AsyncGenerator<ObjectInfo> {
    const dir = dirKey ? path.join(this.root, ...dirKey.slice(0, -1).split('/')) : this.root;
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw unavailable(err, dirKey);
    }
    // A directory "d" sorts as "d/" so that DFS order equals lexicographic key order.
    const named = entries
      .filter((e) => !(dirKey === '' && e.name === INTERNAL_DIR))
      .map((e) => ({ entry: e, sortKey: dirKey + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    // Files are read (or stat'ed) a batch at a time in parallel, then yielded in order.
    // describeFile never rejects (a batch abandoned at a page's end must not leave a stray rejection).
    let batch: Array<Promise<ObjectInfo | BtcError | null>> = [];
    const settle = async function* (pending: typeof batch) {
      for (const info of await Promise.all(pending)) {
        if (info instanceof BtcError) throw info;
        if (info) yield info;
      }
    };
    const describeFile = async (file: string, key: string): Promise<ObjectInfo | BtcError | null> => {
      try {
        if (!withEtags) {
          const stat = await fsp.stat(file);
          return { key, etag: '', size: stat.size, lastModified: stat.mtimeMs };
        }
        const [body, stat] = await Promise.all([fsp.readFile(file), fsp.stat(file)]);
        return { key, etag: etagOf(body), size: body.length, lastModified: stat.mtimeMs };
      } catch (err) {
        if (isMissing(err)) return null; // deleted while listing: skip
        return unavailable(err, key);
      }
    };
    for (const { entry, sortKey } of named) {
      if (entry.isDirectory()) {
        const couldMatch = sortKey.startsWith(prefix) || prefix.startsWith(sortKey);
        const entirelyBefore = sortKey < startAfter && !startAfter.startsWith(sortKey);
        if (!couldMatch || entirelyBefore) continue;
        yield* settle(batch);
        batch = [];
        yield* this.walk(sortKey, prefix, startAfter, withEtags);
      } else if (entry.isFile() && sortKey.startsWith(prefix) && sortKey > startAfter) {
        batch.push(describeFile(path.join(dir, entry.name), sortKey));
        if (batch.length >= LIST_READ_BATCH) {
          yield* settle(batch);
          batch = [];
        }
      }
    }
    yield* settle(batch);
  }

  private pathOf(key: string): string {
    validateFsKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  private ensureDirs(): Promise<void> {
    this.ready ??= Promise.all([
      fsp.mkdir(this.tmpDir, { recursive: true }),
      fsp.mkdir(this.lockDir, { recursive: true }),
    ]).then(() => undefined);
    return this.ready;
  }

  /** Writes and fsyncs a temp file; on failure (a full disk) removes it and throws fsError's codes. */
  private async writeTemp(bytes: Buffer, key: string): Promise<string> {
    const tmp = path.join(this.tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    try {
      const handle = await fsp.open(tmp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return tmp;
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw unavailable(err, key);
    }
  }

  /** Serialises writers of one key across processes with an O_EXCL lock file. */
  private async withKeyLock<T>(key: string, body: () => Promise<T>): Promise<T> {
    const lock = path.join(this.lockDir, createHash('sha1').update(key).digest('hex'));
    const release = await acquireFileLock(lock, { staleMs: this.staleLockMs, waitMs: this.lockWaitMs, what: key });
    try {
      return await body();
    } finally {
      await release();
    }
  }
}

/**
 * Folders emptied by deletes, removed in batches: a backlog of thousands of segments in one dt=
 * folder would otherwise try (and fail) an rmdir after every single delete.
 */
class PruneQueue {
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

/** Reads a file of known size in one call (a file that shrank meanwhile is read up to its end). */
async function readWhole(handle: FileHandle, size: number): Promise<Buffer> {
  const body = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(body, filled, size - filled, filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === size ? body : body.subarray(0, filled);
}

/** A get result whose ETag (an MD5 of the body) is only computed when someone reads it. */
function withLazyEtag(info: Omit<GetResult, 'etag'>): GetResult {
  let etag: string | undefined;
  return Object.defineProperty(info, 'etag', { enumerable: true, get: () => (etag ??= etagOf(info.body)) }) as GetResult;
}

/**
 * Makes `file`'s folder and runs a link or rename into it. A delete (in this or another process)
 * may prune that folder, or a parent, while it is empty for a moment: then mkdir or the move meets
 * ENOENT, and both are simply done again.
 */
async function intoDir(file: string, move: () => Promise<void>): Promise<void> {
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
async function createOnly(tmp: string, file: string): Promise<void> {
  try {
    await fsp.link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    if (await fsp.access(file).then(() => true, () => false)) throw Object.assign(new Error(`${file} exists`), { code: 'EEXIST' });
    await fsp.rename(tmp, file);
  }
}

/**
 * The port's key rules (key-rules.ts validateKey: no escape from the root, no aliasing), plus the
 * directory store's own: the internal folder `.btc-store/` is not a key.
 * @throws BtcError InvalidKey.
 */
export function validateFsKey(key: string): void {
  validateKey(key);
  if (key.split('/')[0] === INTERNAL_DIR) {
    throw new BtcError('InvalidKey', `invalid key ${JSON.stringify(key)}: reserved prefix ${INTERNAL_DIR}`, { details: { key } });
  }
}

/** ETag = MD5 of the content, the same value S3 gives a single-part upload. */
export function etagOf(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

function stripQuotes(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

/** unlink without rm's extra lstat; absent is fine. */
async function removeIfPresent(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** A file-system failure at `key`: DiskFull / IoError / Unavailable (durable.ts fsError). */
function unavailable(err: unknown, key: string): BtcError {
  return fsError(err, key, { key });
}

