// runtime/handoff/zip-writer.ts
// Writes a zip entry by entry: one reused zlib deflate state for small entries, Node's zlib off the main thread for big ones, and the archive's headers written here.

import { isAscii } from 'node:buffer';
import zlib from 'node:zlib';
import { BtcError } from '../errors.ts';

/** zlib's default level, the one `git archive` uses too. */
const LEVEL = 6;
/**
 * Entries up to this size deflate on the calling thread (well under a millisecond each): a
 * thread-pool round trip costs more than that for the thousands of small files of a repository.
 */
const SYNC_DEFLATE_BYTES = 256 << 10;
/** The DOS date in a zip header covers 1980-2107; the writer keeps to 1980-2099, as other writers do. */
const DOS_FIRST_MS = new Date(1980, 0, 1, 12).getTime();
const DOS_LAST_MS = new Date(2099, 11, 31, 12).getTime();
/** What a zip without its ZIP64 extension can hold (APPNOTE 6.3.10, 4.4.8 and 4.4.21): a bundle's limits (BUNDLE_LIMITS) are far below. */
const MAX_ENTRIES = 0xffff;
const MAX_OFFSET = 0xffffffff;
const MAX_NAME_BYTES = 0xffff;

export interface ZipWriter {
  /**
   * Adds `name` with `body` as the next entry (entries keep the order of the calls): its compressed
   * size in bytes, at once when the entry is placed on the spot (a small body, nothing before it
   * still compressing), else once it is placed, so a caller bounds the bytes in flight by awaiting.
   * `body` may be dropped by the caller after that.
   * @throws BtcError InvalidInput (or rejects with it) for a name over 65,535 bytes, or an archive past 65,535 entries or 4 GiB.
   */
  add(name: string, body: Buffer): number | Promise<number>;
  /** Ends the archive once every added entry is in: the whole zip. */
  finish(): Promise<Buffer>;
}

/**
 * Bytes appended to one buffer that doubles when full: the thousands of small headers and entries
 * of a bundle become no objects of their own that outlive a young-generation collection.
 */
class GrowingBuffer {
  private buf: Buffer;
  length = 0;
  constructor(initial: number) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  /** Room for `bytes` more; the offset they start at. */
  reserve(bytes: number): number {
    if (this.length + bytes > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + bytes));
      this.buf.copy(bigger, 0, 0, this.length);
      this.buf = bigger;
    }
    const at = this.length;
    this.length += bytes;
    return at;
  }
  get bytes(): Buffer {
    return this.buf;
  }
  /** What was written (a view, not a copy). */
  written(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * A zip whose every entry is DEFLATE (level 6) and carries `mtime` (clamped to the years a zip
 * header can hold), so the bytes are a function of the entries and `mtime`. A bundle's zip is a
 * few MB for thousands of files: it is built in memory.
 *
 * Why the headers are written here rather than by a zip library: a bundle is thousands of small
 * files, and a streaming zip library's per-entry bookkeeping (fflate's Zip: ~10 µs an entry, ~80 ms
 * cold for 5,000) was a fifth of the whole handoff. The layout is APPNOTE 6.3.10's plain one: a
 * local header (4.3.7) before each entry's data with its sizes and CRC known up front (no data
 * descriptor), a central directory (4.3.12) and its end record (4.3.16); names are UTF-8 (bit 11
 * when not ASCII). Any reader opens it; the tests read it back with yauzl and JSZip.
 *
 * Small entries share one deflate state, reset between entries (smallDeflater: zlib's own deflate,
 * sync, without a new stream and ~260 KB of zlib state per entry); each entry is still a complete
 * raw deflate stream, byte for byte what `zlib.deflateRawSync` gives.
 */
export function createZipWriter(mtimeMs: number): ZipWriter {
  const { time, date } = dosDateTime(new Date(Math.min(Math.max(mtimeMs, DOS_FIRST_MS), DOS_LAST_MS)));
  // Local headers with their data, and the central directory, each written as the entries come.
  const archive = new GrowingBuffer(1 << 20);
  const directory = new GrowingBuffer(64 << 10);
  let entries = 0;
  let deflater: SmallDeflater | null = null;
  // Entries are placed in the order add() is called: while any placement waits (behind a big entry
  // compressing in the thread pool), later ones queue behind it; otherwise a small one is placed at once.
  let previous: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  let failure: unknown = null;
  /** Runs `placement` once every placement queued before it is done; its failure fails the writer. */
  const later = (placement: () => number | Promise<number>): Promise<number> => {
    waiting++;
    const placed = previous.then(placement);
    previous = placed
      .then(
        () => undefined,
        (err: unknown) => void (failure ??= err),
      )
      .finally(() => waiting--);
    // Handled here too: a caller that stops waiting (an error of its own) leaves no unhandled
    // rejection behind; finish() reports the failure in any case.
    placed.catch(() => undefined);
    return placed;
  };

  const place = (name: Buffer, body: Buffer, deflated: Buffer) => {
    const offset = archive.length;
    if (entries >= MAX_ENTRIES || offset + 30 + name.length + deflated.length > MAX_OFFSET) {
      throw new BtcError('InvalidInput', `zip refused: more than ${MAX_ENTRIES} entries or 4 GiB (no ZIP64 here)`);
    }
    const common = { name, crc: zlib.crc32(body), size: body.length, compressed: deflated.length };
    const at = archive.reserve(30 + name.length + deflated.length);
    const out = archive.bytes;
    out.writeUInt32LE(0x04034b50, at);
    writeCommon(out, at + 4, common, time, date);
    out.writeUInt16LE(0, at + 28); // extra field length
    name.copy(out, at + 30);
    deflated.copy(out, at + 30 + name.length);

    const rec = directory.reserve(46 + name.length);
    const dir = directory.bytes;
    dir.writeUInt32LE(0x02014b50, rec);
    dir.writeUInt16LE(20, rec + 4); // made by: 2.0, MS-DOS attributes (none set)
    writeCommon(dir, rec + 6, common, time, date);
    dir.fill(0, rec + 30, rec + 42); // extra, comment length, disk number, internal and external attributes
    dir.writeUInt32LE(offset, rec + 42);
    name.copy(dir, rec + 46);
    entries++;
  };

  return {
    add(name, body) {
      if (failure) throw failure;
      const nameBytes = Buffer.from(name, 'utf8');
      if (nameBytes.length > MAX_NAME_BYTES) throw new BtcError('InvalidInput', `zip refused: an entry name of ${nameBytes.length} bytes (limit ${MAX_NAME_BYTES})`);
      if (body.length <= SYNC_DEFLATE_BYTES) {
        const deflated = (deflater ??= smallDeflater()).deflate(body);
        if (waiting === 0) {
          place(nameBytes, body, deflated);
          return deflated.length;
        }
        const kept = Buffer.from(deflated); // the deflater's buffer is reused by the next entry
        return later(() => (place(nameBytes, body, kept), kept.length));
      }
      // Compressing in the thread pool from now on, placed in its turn.
      const deflating = new Promise<Buffer>((resolve, reject) => zlib.deflateRaw(body, { level: LEVEL }, (err, out) => (err ? reject(err) : resolve(out))));
      deflating.catch(() => undefined); // reported through its placement
      return later(async () => {
        const deflated = await deflating;
        place(nameBytes, body, deflated);
        return deflated.length;
      });
    },
    async finish() {
      while (waiting > 0) await previous;
      if (failure) throw failure;
      deflater?.close();
      deflater = null;
      const directoryStart = archive.length;
      const size = directoryStart + directory.length + 22;
      if (size > MAX_OFFSET) throw new BtcError('InvalidInput', 'zip refused: over 4 GiB (no ZIP64 here)');
      const zip = Buffer.allocUnsafe(size);
      archive.written().copy(zip, 0);
      directory.written().copy(zip, directoryStart);
      const end = directoryStart + directory.length;
      zip.writeUInt32LE(0x06054b50, end);
      zip.fill(0, end + 4, end + 8); // this disk, the directory's disk
      zip.writeUInt16LE(entries, end + 8); // entries on this disk
      zip.writeUInt16LE(entries, end + 10); // entries in all
      zip.writeUInt32LE(directory.length, end + 12);
      zip.writeUInt32LE(directoryStart, end + 16);
      zip.writeUInt16LE(0, end + 20); // comment length
      return zip;
    },
  };
}

/** The fields a local header (from byte 4) and a central directory record (from byte 6) share: version needed … name length. */
function writeCommon(buf: Buffer, at: number, entry: { name: Buffer; crc: number; size: number; compressed: number }, time: number, date: number): void {
  buf.writeUInt16LE(20, at); // version needed: 2.0 (deflate)
  buf.writeUInt16LE(isAscii(entry.name) ? 0 : 1 << 11, at + 2); // bit 11: the name is UTF-8
  buf.writeUInt16LE(8, at + 4); // method: deflate
  buf.writeUInt16LE(time, at + 6);
  buf.writeUInt16LE(date, at + 8);
  buf.writeUInt32LE(entry.crc, at + 10);
  buf.writeUInt32LE(entry.compressed, at + 14);
  buf.writeUInt32LE(entry.size, at + 18);
  buf.writeUInt16LE(entry.name.length, at + 22);
}

/** MS-DOS time and date of `at` in local time (APPNOTE 4.4.6), as zip tools write and read them. */
function dosDateTime(at: Date): { time: number; date: number } {
  return {
    time: (at.getHours() << 11) | (at.getMinutes() << 5) | (at.getSeconds() >> 1),
    date: ((at.getFullYear() - 1980) << 9) | ((at.getMonth() + 1) << 5) | at.getDate(),
  };
}

export interface SmallDeflater {
  /**
   * `body` as one complete raw deflate stream (level 6), byte for byte what `zlib.deflateRawSync`
   * gives. The result may be a view of a buffer the next call overwrites: copy it to keep it.
   * @throws Error when zlib fails (out of memory).
   */
  deflate(body: Buffer): Buffer;
  close(): void;
}

/** What smallDeflater uses of a Node zlib stream: its native handle and the two counters a synchronous write leaves. */
interface ZlibInternals {
  _handle?: { writeSync?: unknown; reset?: unknown };
  _writeState?: unknown;
}
interface NativeDeflate {
  writeSync(flush: number, input: Buffer, inOffset: number, inLength: number, output: Buffer, outOffset: number, outLength: number): void;
  reset(): void;
}

/**
 * One zlib deflate state for many small bodies, synchronous: each body written with Z_FINISH into
 * one output buffer, then the state reset for the next. It drives the native handle of a Node
 * zlib stream directly, as node:zlib's own synchronous path (processChunkSync) does, without that
 * path's stream bookkeeping and copies, which cost more than the compression for a 1 KB file.
 * Those are internals (`_handle.writeSync`, `_writeState`, stable since Node 10): when they are
 * not there, each body goes through the public `zlib.deflateRawSync` instead (same bytes, slower).
 * `internals: false` takes that path on purpose (tests).
 */
export function smallDeflater({ internals = true } = {}): SmallDeflater & { native: boolean } {
  const stream = zlib.createDeflateRaw({ level: LEVEL });
  const { _handle: handle, _writeState: state } = stream as unknown as ZlibInternals;
  if (!internals || typeof handle?.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
    stream.close();
    return { deflate: (body) => zlib.deflateRawSync(body, { level: LEVEL }), close: () => undefined, native: false };
  }
  const native = handle as NativeDeflate;
  // A zlib error destroys the stream (node:zlib's zlibOnError): seen through `destroyed`, not as an event.
  stream.on('error', () => undefined);
  let out = Buffer.allocUnsafe(64 << 10);
  return {
    native: true,
    deflate(body) {
      // A closed or failed stream has freed its native state: writing to it would abort the process (a C++ assertion), not throw.
      if (stream.destroyed) throw stream.errored ?? new Error('zlib deflate state is closed');
      let written = 0;
      let inOffset = 0;
      let inLength = body.length;
      for (;;) {
        const room = out.length - written;
        native.writeSync(zlib.constants.Z_FINISH, body, inOffset, inLength, out, written, room);
        if (stream.destroyed) throw stream.errored ?? new Error('zlib deflate failed');
        const [availOut, availIn] = [state[0]!, state[1]!];
        written += room - availOut;
        inOffset += inLength - availIn;
        inLength = availIn;
        // Room left: the stream is finished. No room: more output is pending for a bigger buffer.
        if (availOut > 0) break;
        const bigger = Buffer.allocUnsafe(out.length * 2);
        out.copy(bigger, 0, 0, written);
        out = bigger;
      }
      native.reset();
      return out.subarray(0, written);
    },
    close() {
      stream.close();
    },
  };
}
