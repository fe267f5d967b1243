// runtime/handoff/unzip.ts
// The one bounded zip reader: entry count, per-entry and total uncompressed size and ratio are capped while inflating.

import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BtcError } from '../errors.ts';

/** Caps on what one archive may expand to. Every field is checked against the real output, not the declared sizes. */
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
  /** The name as stored (UTF-8); directories end with `/`. Not sanitised: check it before writing anywhere. */
  name: string;
  dir: boolean;
  /** Declared sizes from the central directory: a hint for early refusal, never trusted. */
  compressedSize: number;
  declaredSize: number;
}

export interface ZipReader {
  /** Central-directory entries in archive order. */
  entries: readonly ZipEntry[];
  has(name: string): boolean;
  /**
   * The entry's bytes, inflated under the limits and CRC-checked; cached, so a second read costs
   * nothing and counts once. Throws BtcError InvalidInput naming the entry and the limit.
   */
  read(name: string): Promise<Buffer>;
}

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x1;
const ZIP64_MARK = 0xffffffff;

const inflateRaw = promisify(zlib.inflateRaw);
const MiB = (n: number) => (n < 1 << 20 ? `${n} bytes` : `${Math.round((n / (1 << 20)) * 10) / 10} MiB`);

/**
 * Parses the central directory of `bytes` (no decompression yet). Throws InvalidInput for a
 * truncated or corrupt archive, Zip64, encryption, an unknown method or too many entries.
 */
export function openZip(bytes: Buffer, limits: UnzipLimits = BUNDLE_LIMITS, what = 'zip'): ZipReader {
  const corrupt = (why: string) => new BtcError('InvalidInput', `not a valid zip (truncated or corrupt): ${why}`);
  const eocd = findEocd(bytes);
  if (eocd < 0) throw corrupt('no end-of-central-directory record');
  const count = bytes.readUInt16LE(eocd + 10);
  const cdSize = bytes.readUInt32LE(eocd + 12);
  const cdOffset = bytes.readUInt32LE(eocd + 16);
  if (cdOffset === ZIP64_MARK || count === 0xffff) throw new BtcError('InvalidInput', `${what}: Zip64 archives are not supported`);
  if (count > limits.maxEntries) throw new BtcError('InvalidInput', `${what} refused: ${count} entries (limit ${limits.maxEntries})`);
  if (cdOffset + cdSize > eocd) throw corrupt('central directory outside the file');

  const located = new Map<string, ZipEntry & { method: number; crc: number; localOffset: number }>();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > eocd || bytes.readUInt32LE(at) !== CENTRAL_SIGNATURE) throw corrupt(`bad central directory entry #${i + 1}`);
    const flags = bytes.readUInt16LE(at + 8);
    const method = bytes.readUInt16LE(at + 10);
    const crc = bytes.readUInt32LE(at + 16);
    const compressedSize = bytes.readUInt32LE(at + 20);
    const declaredSize = bytes.readUInt32LE(at + 24);
    const nameLength = bytes.readUInt16LE(at + 28);
    const next = at + 46 + nameLength + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    const localOffset = bytes.readUInt32LE(at + 42);
    if (next > eocd) throw corrupt(`central directory entry #${i + 1} runs past its end`);
    const name = bytes.toString('utf8', at + 46, at + 46 + nameLength);
    if (compressedSize === ZIP64_MARK || declaredSize === ZIP64_MARK || localOffset === ZIP64_MARK) {
      throw new BtcError('InvalidInput', `${what}: entry "${name}" uses Zip64, not supported`);
    }
    if (flags & FLAG_ENCRYPTED) throw new BtcError('InvalidInput', `${what}: entry "${name}" is encrypted`);
    if (method !== METHOD_STORED && method !== METHOD_DEFLATE) throw new BtcError('InvalidInput', `${what}: entry "${name}" uses compression method ${method}`);
    if (located.has(name)) throw new BtcError('InvalidInput', `${what}: entry "${name}" appears twice`);
    located.set(name, { name, dir: name.endsWith('/'), compressedSize, declaredSize, method, crc, localOffset });
    at = next;
  }

  const cache = new Map<string, Promise<Buffer>>();
  let total = 0;
  // One inflation at a time, so the running total every cap is computed from is exact.
  let queue: Promise<unknown> = Promise.resolve();
  const inflate = async (name: string): Promise<Buffer> => {
    const entry = located.get(name);
    if (!entry) throw new BtcError('InvalidInput', `${what}: no entry "${name}"`);
    const refuse = (size: string, limit: string) => new BtcError('InvalidInput', `${what} refused: entry "${name}" ${size} (${limit})`);
    // The declared size is a free early refusal; the real output is bounded below whatever it says.
    if (entry.declaredSize > limits.maxEntryBytes) throw refuse(`declares ${MiB(entry.declaredSize)}`, `per-entry limit ${MiB(limits.maxEntryBytes)}`);
    const l = entry.localOffset;
    if (l + 30 > bytes.length || bytes.readUInt32LE(l) !== LOCAL_SIGNATURE) throw corrupt(`bad local header for "${name}"`);
    const start = l + 30 + bytes.readUInt16LE(l + 26) + bytes.readUInt16LE(l + 28);
    if (start + entry.compressedSize > bytes.length) throw corrupt(`entry "${name}" runs past the end of the file`);
    const data = bytes.subarray(start, start + entry.compressedSize);

    const ratioCap = Math.max(RATIO_FLOOR_BYTES, entry.compressedSize * limits.maxRatio);
    const caps = [
      { bytes: limits.maxEntryBytes, says: `per-entry limit ${MiB(limits.maxEntryBytes)}` },
      { bytes: limits.maxTotalBytes - total, says: `total limit ${MiB(limits.maxTotalBytes)} for the archive` },
      { bytes: ratioCap, says: `compression ratio limit ${limits.maxRatio}:1` },
    ].sort((a, b) => a.bytes - b.bytes);
    const cap = caps[0]!;
    let out: Buffer;
    if (entry.method === METHOD_STORED) out = data;
    else {
      try {
        // zlib stops at maxOutputLength and fails: memory never exceeds the cap, and the work runs on the thread pool.
        out = await inflateRaw(data, { maxOutputLength: Math.max(1, cap.bytes) });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw refuse(`expands beyond ${MiB(cap.bytes)}`, cap.says);
        throw corrupt(`entry "${name}": ${(err as Error).message}`);
      }
    }
    if (out.length > cap.bytes) throw refuse(`expands beyond ${MiB(cap.bytes)}`, cap.says);
    if (out.length !== entry.declaredSize) throw corrupt(`entry "${name}" is ${out.length} bytes, declared ${entry.declaredSize}`);
    if (zlib.crc32(out) !== entry.crc) throw corrupt(`entry "${name}" fails its CRC-32`);
    total += out.length;
    return out;
  };

  return {
    entries: [...located.values()].map(({ name, dir, compressedSize, declaredSize }) => ({ name, dir, compressedSize, declaredSize })),
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

/** The end-of-central-directory record: the last signature within the comment's reach from the end. */
function findEocd(bytes: Buffer): number {
  const lowest = Math.max(0, bytes.length - EOCD_MIN - MAX_COMMENT);
  for (let i = bytes.length - EOCD_MIN; i >= lowest; i--) {
    if (bytes.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_MIN + bytes.readUInt16LE(i + 20) === bytes.length) return i;
  }
  return -1;
}
