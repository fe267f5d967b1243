// runtime/lake/compact-sources.ts
// A stream-day's raw segments for compaction: listed, downloaded into one local JSONL file, scanned, and a bad line named.

import { promises as fsp } from 'node:fs';
import { BtcError } from '../errors.ts';
import { parseRawSegmentKey } from '../keys.ts';
import { listAll, type ObjectStore } from '../store/types.ts';

const TS_KEY = Buffer.from('"ts":');

/** One raw segment read for a day, as the manifest lists it. */
export interface SourceSegment {
  key: string;
  etag: string;
  size: number;
  /** Lines (records) in the segment. */
  records: number;
  /** Exchange-time range of its records (ms). */
  min_ts: number;
  max_ts: number;
}

/** The raw segments under `prefix` (keys that parse as raw segment keys), with ETag and size. */
export async function listObjects(store: ObjectStore, prefix: string): Promise<Array<{ key: string; etag: string; size: number }>> {
  const out: Array<{ key: string; etag: string; size: number }> = [];
  for await (const o of listAll(store, prefix)) if (parseRawSegmentKey(o.key)) out.push({ key: o.key, etag: o.etag, size: o.size });
  return out;
}

/** Downloads segments (bounded parallelism) and appends them, in key order, to one local JSONL file. */
export async function downloadInto(options: { store: ObjectStore; downloadConcurrency?: number }, objects: Array<{ key: string; etag: string; size: number }>, file: string): Promise<SourceSegment[]> {
  const sorted = [...objects].sort((a, b) => (a.key < b.key ? -1 : 1));
  const handle = await fsp.open(file, 'w');
  const out: SourceSegment[] = [];
  try {
    const width = options.downloadConcurrency ?? 16;
    for (let i = 0; i < sorted.length; i += width) {
      const batch = await Promise.all(sorted.slice(i, i + width).map((o) => options.store.get(o.key)));
      for (const got of batch) {
        out.push(scanSegment(got.key, got.etag, got.body));
        await handle.write(got.body);
      }
    }
  } finally {
    await handle.close();
  }
  return out;
}

/** Line count and exchange-time range of a segment body; refuses a body that is not whole JSONL. */
export function scanSegment(key: string, etag: string, body: Buffer): SourceSegment {
  if (body.length === 0 || body[body.length - 1] !== 0x0a) throw new BtcError('Internal', `segment ${key} is empty or not newline-terminated; not compacted`);
  let records = 0;
  for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) records++;
  let min = Infinity;
  let max = -Infinity;
  let seen = 0;
  // Every `"ts":` of the bytes (inside a JSON string it would read `\"ts\":`), then its integer part.
  for (let i = body.indexOf(TS_KEY); i !== -1; i = body.indexOf(TS_KEY, i + TS_KEY.length)) {
    let j = i + TS_KEY.length;
    const negative = body[j] === 0x2d;
    if (negative) j++;
    let ts = 0;
    let digits = 0;
    for (; j < body.length && body[j]! >= 0x30 && body[j]! <= 0x39; j++, digits++) ts = ts * 10 + (body[j]! - 0x30);
    if (!digits) continue;
    if (negative) ts = -ts;
    seen++;
    if (ts < min) min = ts;
    if (ts > max) max = ts;
  }
  if (seen !== records) {
    const text = body.toString('utf8');
    // A data field named ts (none today), or a line that is not a record: parse each line.
    min = Infinity;
    max = -Infinity;
    const lines = text.split('\n');
    lines.pop(); // after the final newline
    for (let n = 0; n < lines.length; n++) {
      const line = lines[n]!;
      if (!line) continue; // counted as a line: DuckDB's count then differs, and the day is refused naming it
      let record: { ts?: unknown } | null;
      try {
        record = JSON.parse(line) as { ts?: unknown } | null;
      } catch (err) {
        throw new BtcError('Internal', `raw segment ${key} line ${n + 1} of ${lines.length}: not JSON (${firstLine(err)}): ${JSON.stringify(line.slice(0, 120))}; not compacted, raw segments stay`, { details: { key, line: n + 1 } });
      }
      const ts = record?.ts;
      if (typeof ts !== 'number') continue; // DuckDB reads it as NULL and the day is refused naming it
      if (ts < min) min = ts;
      if (ts > max) max = ts;
    }
  }
  return { key, etag, size: body.length, records, min_ts: min, max_ts: max };
}

/** The first line of an error's message (DuckDB's carry hints after it). */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

/**
 * A day DuckDB could not read whole: finds the first line of the local JSONL files that is not a
 * record (not JSON, not an object, or without a numeric ts, epoch or seq) and names its segment
 * key and line, so a torn or garbage line is reported precisely instead of dropped. The files hold
 * the segments in `sources` order, back to back. Returns the BtcError to throw (nothing written).
 */
export async function unreadable(what: string, inputs: Array<{ file: string; sources: SourceSegment[] }>, why: string): Promise<BtcError> {
  for (const { file, sources } of inputs) {
    if (!sources.length) continue;
    const handle = await fsp.open(file, 'r');
    try {
      let offset = 0;
      for (const seg of sources) {
        const body = Buffer.alloc(seg.size);
        await handle.read(body, 0, seg.size, offset);
        offset += seg.size;
        const lines = body.toString('utf8').split('\n');
        lines.pop(); // after the final newline
        for (let i = 0; i < lines.length; i++) {
          const problem = recordProblem(lines[i]!);
          if (problem) {
            return new BtcError('Internal', `${what}: raw segment ${seg.key} line ${i + 1} of ${lines.length}: ${problem}: ${JSON.stringify(lines[i]!.slice(0, 120))}; ${why}; nothing written, raw segments stay`, {
              details: { key: seg.key, line: i + 1 },
            });
          }
        }
      }
    } finally {
      await handle.close();
    }
  }
  return new BtcError('Internal', `${what}: ${why}; nothing written, raw segments stay`);
}

function recordProblem(line: string): string | null {
  if (!line.trim()) return 'empty line';
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return `not JSON (${firstLine(err)})`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  for (const field of ['ts', 'epoch', 'seq']) if (typeof r[field] !== 'number') return `no numeric ${field}`;
  return null;
}
