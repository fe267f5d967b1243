// test/helpers/zip-bomb.ts
// Hand-made zips for the decompression-limit tests: an entry of N repeated bytes deflated in chunks, with an honest or lying size.

import { Readable } from 'node:stream';
import zlib from 'node:zlib';

export interface BombEntry {
  name: string;
  /** Literal content, or `repeat` bytes of 'a' streamed through deflate 1 MiB at a time (never held whole). */
  body?: string;
  repeat?: number;
  /** The uncompressed size written into the headers (default: the true size); a bomb may lie. */
  declaredSize?: number;
  /** The compression method written into the headers (default 8, deflate; the data is deflated either way). */
  method?: number;
  /** General-purpose flag bits added to UTF-8 names (bit 0: encrypted). */
  flags?: number;
}

const CHUNK = Buffer.alloc(1 << 20, 'a');

/** A deflated zip of `entries`. 200 MB of 'a' compresses to ~200 KB and builds in well under a second. */
export async function makeZip(entries: BombEntry[]): Promise<Buffer> {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const { data, crc, size } = await deflate(entry);
    const name = Buffer.from(entry.name, 'utf8');
    const declared = entry.declaredSize ?? size;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800 | (entry.flags ?? 0), 6); // UTF-8 names
    local.writeUInt16LE(entry.method ?? 8, 8); // deflate
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(declared, 22);
    local.writeUInt16LE(name.length, 26);
    const head = Buffer.alloc(46);
    head.writeUInt32LE(0x02014b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(20, 6);
    head.writeUInt16LE(0x0800 | (entry.flags ?? 0), 8);
    head.writeUInt16LE(entry.method ?? 8, 10);
    head.writeUInt32LE(crc, 16);
    head.writeUInt32LE(data.length, 20);
    head.writeUInt32LE(declared, 24);
    head.writeUInt16LE(name.length, 28);
    head.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    central.push(head, name);
    offset += local.length + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

async function deflate(entry: BombEntry): Promise<{ data: Buffer; crc: number; size: number }> {
  if (entry.body !== undefined) {
    const body = Buffer.from(entry.body, 'utf8');
    return { data: zlib.deflateRawSync(body), crc: zlib.crc32(body), size: body.length };
  }
  const total = entry.repeat ?? 0;
  let crc = 0;
  function* chunks() {
    for (let done = 0; done < total; done += CHUNK.length) {
      const part = CHUNK.subarray(0, Math.min(CHUNK.length, total - done));
      crc = zlib.crc32(part, crc);
      yield part;
    }
  }
  const out: Buffer[] = [];
  for await (const piece of Readable.from(chunks()).pipe(zlib.createDeflateRaw({ level: 9 }))) out.push(piece as Buffer);
  return { data: Buffer.concat(out), crc, size: total };
}
