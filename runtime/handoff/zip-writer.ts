// runtime/handoff/zip-writer.ts
// Writes a zip entry by entry: Node's native zlib deflates each entry (big ones off the main thread), fflate's Zip lays out the archive.

import zlib from 'node:zlib';
import { Zip, type ZipInputFile } from 'fflate';

/** zlib's default level, the one `git archive` uses too. */
const LEVEL = 6;
/**
 * Entries up to this size deflate on the calling thread (well under a millisecond each): a
 * thread-pool round trip costs more than that for the thousands of small files of a repository.
 */
const SYNC_DEFLATE_BYTES = 256 << 10;
/** The DOS date in a zip header covers 1980-2107; fflate refuses dates outside 1980-2099. */
const DOS_FIRST_MS = new Date(1980, 0, 1, 12).getTime();
const DOS_LAST_MS = new Date(2099, 11, 31, 12).getTime();

export interface ZipWriter {
  /**
   * Adds `name` with `body` as the next entry (entries keep the order of the calls); resolves once
   * the entry is compressed, with its compressed size in bytes, so a caller bounds the bytes in
   * flight by awaiting. `body` may be dropped by the caller after that.
   */
  add(name: string, body: Buffer): Promise<number>;
  /** Ends the archive once every added entry is in: the whole zip. */
  finish(): Promise<Buffer>;
}

/**
 * A zip whose every entry is DEFLATE (level 6) and carries `mtime` (clamped to the years a zip
 * header can hold), so the bytes are a function of the entries and `mtime`. The archive itself is
 * a list of compressed chunks: a bundle's zip is a few MB for thousands of files.
 * @throws the zlib or fflate error when an entry cannot be written (a name over 65,535 bytes).
 */
export function createZipWriter(mtimeMs: number): ZipWriter {
  const mtime = new Date(Math.min(Math.max(mtimeMs, DOS_FIRST_MS), DOS_LAST_MS));
  const chunks: Uint8Array[] = [];
  let failure: Error | null = null;
  let done: (zip: Buffer) => void = () => {};
  let fail: (err: Error) => void = () => {};
  const finished = new Promise<Buffer>((resolve, reject) => ((done = resolve), (fail = reject)));
  finished.catch(() => undefined); // reported by add() or finish(), whichever comes first
  const zip = new Zip((err, chunk, final) => {
    if (err) fail((failure ??= err));
    else chunks.push(chunk);
    if (final && !err) done(Buffer.concat(chunks));
  });
  return {
    async add(name, body) {
      if (failure) throw failure;
      const file: ZipInputFile = { filename: name, size: body.length, crc: zlib.crc32(body), compression: 8, mtime };
      // fflate fixes the entry's place now and writes it once the entries before it are complete.
      zip.add(file);
      // Output room for the whole entry at once: zlib's default 16 KiB chunks are mostly garbage for small files.
      const options = { level: LEVEL, chunkSize: Math.min(Math.max(64, body.length + 64), 1 << 20) };
      const deflated =
        body.length <= SYNC_DEFLATE_BYTES
          ? zlib.deflateRawSync(body, options)
          : await new Promise<Buffer>((resolve, reject) => zlib.deflateRaw(body, options, (err, out) => (err ? reject(err) : resolve(out))));
      file.ondata!(null, new Uint8Array(deflated.buffer as ArrayBuffer, deflated.byteOffset, deflated.length), true);
      if (failure) throw failure;
      return deflated.length;
    },
    async finish() {
      if (failure) throw failure;
      zip.end();
      const bytes = await finished;
      if (failure) throw failure;
      return bytes;
    },
  };
}
