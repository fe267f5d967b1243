// runtime/store/fs.ts
// FsStore: a directory that behaves like a bucket (the embedded default primary and the local cache).

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../durable.ts';
import { BtcError } from '../errors.ts';
import { acquireFileLock } from '../file-lock.ts';
import { createOnly, intoDir, isMissing, PruneQueue, readWhole, removeIfPresent, unavailable, writeTemp } from './fs-files.ts';
import { walkKeys } from './fs-listing.ts';
import { validateKey, validatePrefix } from './key-rules.ts';
import type { DeleteOptions, GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult } from './types.ts';

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

  /** `options.into` gives the buffer the body is read into (GetOptions). */
  async getOrNull(key: string, options: GetOptions = {}): Promise<GetResult | null> {
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
      const body = await readWhole(handle, stat.size, options.into);
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
    const tmp = await writeTemp(this.tmpDir, bytes, key);
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
    const withEtags = options.etags !== false;
    const describeFile = (file: string, key: string) => this.describeFile(file, key, withEtags);
    for await (const info of walkKeys({ root: this.root, internalDir: INTERNAL_DIR, prefix, startAfter, describeFile }, baseKey)) {
      if (objects.length === limit) {
        return { objects, nextStartAfter: objects[objects.length - 1]!.key };
      }
      objects.push(info);
    }
    return { objects };
  }

  /** A listed file's object info (its ETag read only `withEtags`); null when deleted while listing; never rejects. */
  private async describeFile(file: string, key: string, withEtags: boolean): Promise<ObjectInfo | BtcError | null> {
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

/** A get result whose ETag (an MD5 of the body) is only computed when someone reads it. */
function withLazyEtag(info: Omit<GetResult, 'etag'>): GetResult {
  let etag: string | undefined;
  return Object.defineProperty(info, 'etag', { enumerable: true, get: () => (etag ??= etagOf(info.body)) }) as GetResult;
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

