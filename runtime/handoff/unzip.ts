// runtime/handoff/unzip.ts
// The one bounded zip reader (yauzl for the directory, fflate or zlib with an output cap to inflate): entry count, per-entry and total uncompressed size and ratio are capped before and while inflating.

import zlib from 'node:zlib';
import { inflateSync } from 'fflate';
import yauzl from 'yauzl';
import { BtcError } from '../errors.ts';
import { BUNDLE_LIMITS, RATIO_FLOOR_BYTES, type UnzipLimits } from './zip-limits.ts';

export interface ZipEntry {
  /** The name as stored (UTF-8, `/`-separated; absolute paths and `..` segments are refused at open); directories end with `/`. */
  name: string;
  dir: boolean;
  /** Sizes from the central directory. The declared size is enforced on the real output (zlib's output cap, then an exact size check). */
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
 * declared sizes first — free, and early — and zlib stops inflating as soon as an entry's real
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
    const tooBig = () => refuse(`expands beyond its declared ${MiB(declared)}`, 'sizes are enforced on the real output');
    const out = await readEntry(bytes, entry, declared, tooBig);
    if (out.length > declared) throw tooBig();
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

/**
 * The entry's bytes: its local header is checked (signature, data within the archive, as yauzl's
 * readLocalFileHeader does) and the slice is inflated with its output capped just past `limit`,
 * so a lying header costs at most `limit` bytes of output. Small entries (declared ≤
 * SYNC_INFLATE_BYTES, compressed data that cannot expand past FFLATE_DECODE_BOUND) inflate in one
 * synchronous fflate call into a buffer of `limit + 1` bytes: a bundle holds thousands of small
 * entries, and a zlib object per entry costs more than the inflating. fflate decodes its whole input
 * even past a full buffer (it only drops the bytes), so only input whose worst case is small goes
 * that way; everything else goes to zlib, which stops at `maxOutputLength`.
 * (Encrypted entries and methods other than stored and deflate were refused by openZip.)
 * @throws BtcError InvalidInput for output past `limit` (`tooBig()`) or corrupt data.
 */
async function readEntry(bytes: Buffer, entry: yauzl.Entry, limit: number, tooBig: () => BtcError): Promise<Buffer> {
  const fileDataStart = localDataStart(bytes, entry);
  const data = bytes.subarray(fileDataStart, fileDataStart + entry.compressedSize);
  if (entry.isEncrypted()) throw new BtcError('InvalidInput', `entry "${entry.fileName}" is encrypted: refused`);
  if (entry.compressionMethod === 0) return data; // stored: yauzl checked that both sizes agree
  if (entry.compressionMethod !== 8) throw new BtcError('InvalidInput', `entry "${entry.fileName}" uses compression method ${entry.compressionMethod}: only stored (0) and deflate (8) are read`);
  try {
    if (entry.uncompressedSize <= SYNC_INFLATE_BYTES && entry.compressedSize * MAX_DEFLATE_RATIO <= FFLATE_DECODE_BOUND) {
      // One byte past `limit` in this buffer shows an entry that expands beyond it.
      const out = inflateSync(data, { out: new Uint8Array(limit + 1) });
      return Buffer.from(out.buffer, out.byteOffset, out.length);
    }
    // zlib refuses a cap of 0; one byte more than declared is caught by the size check of the caller.
    const options = { maxOutputLength: Math.max(limit, 1) };
    return await new Promise<Buffer>((resolve, reject) => zlib.inflateRaw(data, options, (err, out) => (err ? reject(err) : resolve(out))));
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? tooBig() : corrupt(err as Error);
  }
}

/**
 * Where the entry's data starts: after the 30-byte local file header, its name and its extra field
 * (APPNOTE.TXT 4.3.7; the lengths there may differ from the central directory's).
 * @throws BtcError InvalidInput when the header is not there or the data runs past the archive.
 */
function localDataStart(bytes: Buffer, entry: yauzl.Entry): number {
  const at = entry.relativeOffsetOfLocalHeader;
  if (at + 30 > bytes.length) throw corrupt(new Error(`local file header of "${entry.fileName}" past the end of the archive`));
  const signature = bytes.readUInt32LE(at);
  if (signature !== 0x04034b50) throw corrupt(new Error(`invalid local file header signature: 0x${signature.toString(16)}`));
  const start = at + 30 + bytes.readUInt16LE(at + 26) + bytes.readUInt16LE(at + 28);
  if (start + entry.compressedSize > bytes.length) throw corrupt(new Error(`file data overflows file bounds: ${start} + ${entry.compressedSize} > ${bytes.length}`));
  return start;
}

/** Declared sizes up to this inflate synchronously (a few milliseconds at most). */
const SYNC_INFLATE_BYTES = 1 << 20;
/** Deflate's densest code: a 258-byte match in ~2 bits, so compressed data expands ~1032× at most (RFC 1951 3.2.5). */
const MAX_DEFLATE_RATIO = 1032;
/** The most output a synchronous fflate call may have to decode (it does not stop at a full buffer): ~a few ms. */
const FFLATE_DECODE_BOUND = 4 << 20;

/** yauzl's own name checks (absolute paths, `..` segments) become the same refusal read.ts gives. */
const UNSAFE_NAME = /^(invalid relative path|absolute path): (.*)$/;

function corrupt(err: Error): BtcError {
  const unsafe = UNSAFE_NAME.exec(err.message);
  if (unsafe) return new BtcError('InvalidInput', `unsafe entry "${unsafe[2]}" refused (${unsafe[1]})`);
  return new BtcError('InvalidInput', `not a valid zip (truncated or corrupt): ${err.message}`);
}
