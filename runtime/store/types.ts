// runtime/store/types.ts
// The object-store port: the small interface every adapter (S3, directory) implements.

import type { ServerClock } from './server-clock.ts';

export interface ObjectInfo {
  key: string;
  /** Quoted-free ETag string as the store reports it (compare only for equality). */
  etag: string;
  size: number;
  /** Last modification, epoch milliseconds (store clock; informational only). */
  lastModified: number;
}

export interface GetResult extends ObjectInfo {
  body: Buffer;
}

export interface GetOptions {
  /**
   * Where to read the body: called once with the object's size (bytes), returns a Buffer of
   * exactly that many bytes; the result's body is then that Buffer (or a shorter view of it, when
   * the object shrank meanwhile). Lets a bulk reader reuse its buffers (sync, runtime/sync/body-pool.ts).
   * A store that cannot read into a given buffer ignores it (the S3 adapters do). FsStore works
   * the result's `etag` out from the body when it is first read: read it before the buffer is reused.
   */
  into?: (size: number) => Buffer;
}

export interface PutOptions {
  /** `"*"`: create only when absent; otherwise PreconditionFailed. */
  ifNoneMatch?: '*';
  /** Replace only when the current ETag equals this one; absent key → NotFound. */
  ifMatch?: string;
  contentType?: string;
  /**
   * The body's MD5 (hex) when the caller has it already: S3 sends it as Content-MD5 instead of
   * hashing the body again. A wrong value makes the server refuse the put; it never stores bytes.
   */
  md5?: string;
  /**
   * Told of every throttled answer (503 SlowDown / 429) with its Retry-After in ms (0 when none
   * was sent), before the store waits and retries: bulk callers lower their concurrency (sync).
   */
  onThrottle?: (retryAfterMs: number) => void;
}

export interface PutResult {
  key: string;
  etag: string;
}

export interface DeleteOptions {
  /** Delete only while the object's ETag equals this (quotes optional). */
  ifMatch?: string;
}

export interface ListOptions {
  /** Start listing strictly after this key (lexicographic). */
  startAfter?: string;
  /** Page size; adapters cap it at 1000. */
  limit?: number;
  /**
   * false: the caller needs keys and sizes only, so `etag` may be '' (a directory store then stats
   * files instead of reading and hashing each one). Default true.
   */
  etags?: boolean;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Pass as `startAfter` to get the next page; absent when the listing is complete. */
  nextStartAfter?: string;
}

/**
 * The object-store interface. Errors are BtcError with codes NotFound, PreconditionFailed,
 * Unavailable, InvalidKey (every adapter checks keys and list prefixes with key-rules.ts before
 * any I/O, so all accept the same keys), InvalidInput (a body that does not match its MD5).
 */
export interface ObjectStore {
  /** Human-readable location, no secrets (e.g. `s3://btc-ts@127.0.0.1:9000`, `fs:/data/nas`). */
  readonly describe: string;
  get(key: string): Promise<GetResult>;
  /** Like get, but null when absent. */
  getOrNull(key: string, options?: GetOptions): Promise<GetResult | null>;
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Keeps no reference to `body` once it resolved with a 2xx answer. After a refusal or an error
   * the S3 adapters' socket may still be sending from it (a server may answer before reading the
   * body): a caller reuses the Buffer (GetOptions.into) only after a verified upload, as sync does.
   */
  put(key: string, body: Buffer | string, options?: PutOptions): Promise<PutResult>;
  /**
   * Idempotent: deleting an absent key is fine. With `ifMatch` the object goes only while its
   * ETag is still that one (one conditional step, so a write that lands in between survives);
   * otherwise PreconditionFailed. FsStore decides under its per-key lock; S3 adapters send
   * `If-Match` on DeleteObject (AWS conditional deletes, 2024), which a store may ignore.
   */
  delete(key: string, options?: DeleteOptions): Promise<void>;
  /** One page of keys under `prefix`, lexicographic. */
  listPage(prefix: string, options?: ListOptions): Promise<ListPage>;
  /** Finishes deferred housekeeping (FsStore: removes folders that deletes left empty). */
  flush?(): Promise<void>;
  /** S3 adapters: the offset to the server's clock, learnt from its answers; absent for a store on this PC's own clock. */
  readonly serverClock?: ServerClock;
}

/** Every object under a prefix, lexicographic, following pages. */
export async function* listAll(store: ObjectStore, prefix: string, pageSize = 1000, options: Pick<ListOptions, 'etags'> = {}): AsyncGenerator<ObjectInfo> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.listPage(prefix, { startAfter, limit: pageSize, ...options });
    yield* page.objects;
    if (!page.nextStartAfter) return;
    startAfter = page.nextStartAfter;
  }
}

export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of listAll(store, prefix)) keys.push(o.key);
  return keys;
}
