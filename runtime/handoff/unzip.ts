// runtime/handoff/unzip.ts
// The one bounded zip reader (yauzl): entry count, per-entry and total uncompressed size and ratio are capped before and while inflating.

import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import yauzl from 'yauzl';
import { BtcError } from '../errors.ts';

/** Caps on what one archive may expand to. */
export interface UnzipLimits {
  /** Entries (files and directories) in the central directory. */
  maxEntries: number;
  /** Uncompressed bytes of any one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of every entry read from one archive, together. */
  maxTotalBytes: number;
  /** Uncompressed ÷ compressed bytes of one entry, checked once the entry passes RATIO_FLOOR_BYTES. */
  maxRatio: number;
}

/**
 * `runtime handoff load` and the bundle's own final scan: a bundle holds repository text files of
 * at most handoff.maxFileBytes (512 KiB by default), small samples and YAML, so these leave
 * room for large repositories while a bomb stops at a few tens of MiB.
 */
export const BUNDLE_LIMITS: UnzipLimits = { maxEntries: 20_000, maxEntryBytes: 32 << 20, maxTotalBytes: 256 << 20, maxRatio: 100 };

/** Below this an entry may compress as well as it likes (a 1 MiB file of spaces is no threat). */
export const RATIO_FLOOR_BYTES = 1 << 20;

export interface ZipEntry {
  /** The name as stored (UTF-8, `/`-separated; absolute paths and `..` segments are refused at open); directories end with `/`. */
  name: string;
  dir: boolean;
  /** Sizes from the central directory. The declared size is enforced on the real output (yauzl's validateEntrySizes). */
  compressedSize: number;
  declaredSize: number;
}

export interface ZipReader {
  /** Central-directory entries in archive order. */
  entries: readonly ZipEntry[];
  has(name: string): boolean;
  /**
   * The entry's bytes, inflated under the limits and CRC-checked; cached, so a second read costs
   * nothing and counts once. Rejects with BtcError InvalidInput naming the entry and the limit.
   */
  read(name: string): Promise<Buffer>;
}

const MiB = (n: number) => (n < 1 << 20 ? `${n} bytes` : `${Math.round((n / (1 << 20)) * 10) / 10} MiB`);

/**
 * Reads the central directory of `bytes` (nothing is inflated yet). Every limit is checked on the
 * declared sizes first — free, and early — and yauzl's stream fails as soon as an entry's real
 * output passes its declared size, so a lying header cannot make the reader hold more than the cap.
 * @throws BtcError InvalidInput for a truncated or corrupt archive, an unsafe name, encryption,
 *   an unknown compression method, a repeated name or too many entries.
 */
export async function openZip(bytes: Buffer, limits: UnzipLimits = BUNDLE_LIMITS, what = 'zip'): Promise<ZipReader> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true, validateEntrySizes: true, decodeStrings: true }, (err, z) => (err ? reject(corrupt(err)) : resolve(z))),
  );
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new BtcError('InvalidInput', `${what} refused: ${zip.entryCount} entries (limit ${limits.maxEntries})`);
  }
  const located = new Map<string, yauzl.Entry>();
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      const name = entry.fileName;
      const refuse = (why: string) => reject(new BtcError('InvalidInput', `${what}: entry "${name}" ${why}`));
      if (entry.isEncrypted()) return refuse('is encrypted');
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) return refuse(`uses compression method ${entry.compressionMethod}`);
      if (located.has(name)) return refuse('appears twice');
      located.set(name, entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve());
    zip.once('error', (err: Error) => reject(corrupt(err)));
    zip.readEntry();
  });

  const cache = new Map<string, Promise<Buffer>>();
  let total = 0;
  // One inflation at a time, so the running total every cap is computed from is exact.
  let queue: Promise<unknown> = Promise.resolve();
  const inflate = async (name: string): Promise<Buffer> => {
    const entry = located.get(name);
    if (!entry) throw new BtcError('InvalidInput', `${what}: no entry "${name}"`);
    const refuse = (size: string, limit: string) => new BtcError('InvalidInput', `${what} refused: entry "${name}" ${size} (${limit})`);
    const declared = entry.uncompressedSize;
    const caps = [
      { bytes: limits.maxEntryBytes, says: `per-entry limit ${MiB(limits.maxEntryBytes)}` },
      { bytes: limits.maxTotalBytes - total, says: `total limit ${MiB(limits.maxTotalBytes)} for the archive` },
      { bytes: Math.max(RATIO_FLOOR_BYTES, entry.compressedSize * limits.maxRatio), says: `compression ratio limit ${limits.maxRatio}:1` },
    ];
    for (const cap of caps) if (declared > cap.bytes) throw refuse(`declares ${MiB(declared)}`, cap.says);
    const out = await readStream(zip, entry, declared, () => refuse(`expands beyond its declared ${MiB(declared)}`, 'sizes are enforced on the real output'));
    if (out.length !== declared) throw corrupt(new Error(`entry "${name}" is ${out.length} bytes, declared ${declared}`));
    if (zlib.crc32(out) !== entry.crc32) throw corrupt(new Error(`entry "${name}" fails its CRC-32`));
    total += out.length;
    return out;
  };

  return {
    entries: [...located.values()].map((e) => ({ name: e.fileName, dir: e.fileName.endsWith('/'), compressedSize: e.compressedSize, declaredSize: e.uncompressedSize })),
    has: (name) => located.has(name),
    read(name) {
      let pending = cache.get(name);
      if (!pending) {
        pending = queue.then(() => inflate(name));
        queue = pending.catch(() => undefined);
        cache.set(name, pending);
      }
      return pending;
    },
  };
}

/** The entry's bytes; a stream that yields more than `limit` is destroyed and rejects with `tooBig()`. */
function readStream(zip: yauzl.ZipFile, entry: yauzl.Entry, limit: number, tooBig: () => BtcError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream: Readable | undefined) => {
      if (err || !stream) return reject(corrupt(err ?? new Error('no stream')));
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // yauzl's validateEntrySizes fails too, but only after this chunk: count here as well.
        if (size > limit) return stream.destroy(tooBig());
        chunks.push(chunk);
      });
      stream.once('error', (e: Error) => reject(e instanceof BtcError ? e : /too many bytes/.test(e.message) ? tooBig() : corrupt(e)));
      stream.once('end', () => resolve(Buffer.concat(chunks, size)));
    });
  });
}

/** yauzl's own name checks (absolute paths, `..` segments) become the same refusal read.ts gives. */
const UNSAFE_NAME = /^(invalid relative path|absolute path): (.*)$/;

function corrupt(err: Error): BtcError {
  const unsafe = UNSAFE_NAME.exec(err.message);
  if (unsafe) return new BtcError('InvalidInput', `unsafe entry "${unsafe[2]}" refused (${unsafe[1]})`);
  return new BtcError('InvalidInput', `not a valid zip (truncated or corrupt): ${err.message}`);
}
