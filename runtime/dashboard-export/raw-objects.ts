// runtime/dashboard-export/raw-objects.ts
// Reads the raw/ stream objects for the export: key parsing, defensive JSONL parsing, bounded-parallel GETs.

import { listAll, type ObjectInfo, type ObjectStore } from '../store/types.ts';
import { parseRawSegmentKey, RAW_PREFIX } from '../keys.ts';

/** Parallel GETs per export: enough to hide MinIO latency, few enough for a small NAS. */
export const READ_CONCURRENCY = 16;

export interface RawObject extends ObjectInfo {
  exchange: string;
  topic: string;
  /** SYMBOL as in the key (`BTC-USDT`). */
  symbolKey: string;
  /** `<exchange>/<topic>/<SYMBOL>`: one stream. */
  stream: string;
}

/** A line of a raw object that has what the datasets need; anything else is counted as skipped. */
export interface RawLine {
  ts: number;
  ingest_ts: number;
  data: unknown;
}

export function parseRawKey(info: ObjectInfo): RawObject | null {
  const parts = parseRawSegmentKey(info.key);
  if (!parts) return null;
  return { ...info, exchange: parts.exchange, topic: parts.topic, symbolKey: parts.symbol, stream: parts.stream };
}

/** Every raw stream object in the store, in key order; keys that do not follow the layout are returned apart. */
export async function listRawObjects(store: ObjectStore): Promise<{ objects: RawObject[]; foreign: string[] }> {
  const objects: RawObject[] = [];
  const foreign: string[] = [];
  for await (const info of listAll(store, RAW_PREFIX)) {
    const parsed = parseRawKey(info);
    if (parsed) objects.push(parsed);
    else foreign.push(info.key);
  }
  return { objects, foreign };
}

/** Parses JSONL; a line that is not JSON or lacks numeric ts/ingest_ts is skipped (and counted), never fatal. */
export function parseRawLines(body: Buffer): { lines: RawLine[]; skipped: number } {
  const lines: RawLine[] = [];
  let skipped = 0;
  for (const text of body.toString('utf8').split('\n')) {
    if (text.trim() === '') continue;
    try {
      const rec = JSON.parse(text) as Record<string, unknown>;
      if (typeof rec.ts === 'number' && Number.isFinite(rec.ts) && typeof rec.ingest_ts === 'number' && Number.isFinite(rec.ingest_ts)) {
        lines.push({ ts: rec.ts, ingest_ts: rec.ingest_ts, data: rec.data });
      } else skipped++;
    } catch {
      skipped++;
    }
  }
  return { lines, skipped };
}

