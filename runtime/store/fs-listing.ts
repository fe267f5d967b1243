// runtime/store/fs-listing.ts
// FsStore's listing: a folder walk that yields objects in true lexicographic key order, files described a batch at a time.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import { isMissing, unavailable } from './fs-files.ts';
import type { ObjectInfo } from './types.ts';

/** Files described in parallel while listing (bounded so a huge directory does not open thousands at once). */
const LIST_READ_BATCH = 32;

export interface WalkOptions {
  /** The directory that plays the bucket. */
  root: string;
  /** The store's internal folder at the root: never listed. */
  internalDir: string;
  /** Only keys starting with this. */
  prefix: string;
  /** Only keys after this one ('' for all). */
  startAfter: string;
  /** An object's info from its file; null when it vanished meanwhile; never rejects (a BtcError is returned). */
  describeFile(file: string, key: string): Promise<ObjectInfo | BtcError | null>;
}

/** Yields objects under `dirKey` whose key starts with `prefix` and is > startAfter, sorted. */
export async function* walkKeys(options: WalkOptions, dirKey: string): AsyncGenerator<ObjectInfo> {
  const { root, internalDir, prefix, startAfter, describeFile } = options;
  const dir = dirKey ? path.join(root, ...dirKey.slice(0, -1).split('/')) : root;
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw unavailable(err, dirKey);
  }
  // A directory "d" sorts as "d/" so that DFS order equals lexicographic key order.
  const named = entries
    .filter((e) => !(dirKey === '' && e.name === internalDir))
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
  for (const { entry, sortKey } of named) {
    if (entry.isDirectory()) {
      const couldMatch = sortKey.startsWith(prefix) || prefix.startsWith(sortKey);
      const entirelyBefore = sortKey < startAfter && !startAfter.startsWith(sortKey);
      if (!couldMatch || entirelyBefore) continue;
      yield* settle(batch);
      batch = [];
      yield* walkKeys(options, sortKey);
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
