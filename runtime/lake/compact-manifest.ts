// runtime/lake/compact-manifest.ts
// The day manifest of a compacted stream-day (parquet-manifests/…): its shape and reading it back.

import { manifestKey } from '../keys.ts';
import type { ObjectStore } from '../store/types.ts';
import type { SourceSegment } from './compact-sources.ts';
import type { StreamRef } from './layout.ts';

export interface DroppedRow {
  reason: 'duplicate_trade' | 'duplicate_content';
  ts: number;
  id: string | null;
  kept: { epoch: number; seq: number };
  dropped: { epoch: number; seq: number };
}

/** parquet-manifests/<topic>/<ex>/<SYMBOL>/<date>.json. */
export interface DayManifest {
  version: 1;
  stream: string;
  exchange: string;
  topic: string;
  symbol: string;
  date: string;
  /** Null when no record of the sources falls on this day (the manifest still proves they were read). */
  parquet: { key: string; bytes: number; sha256: string; etag: string } | null;
  rows: number;
  min_ts: number | null;
  max_ts: number | null;
  epochs: number[];
  /** Trades: the exchange's trade ids (numeric ones; null when ids are not integers). */
  trade_ids: { min: number | null; max: number | null; distinct: number; first_trade_id_min: number | null; last_trade_id_max: number | null; same_id_different_content: number } | null;
  /** Records of the sources that fall on this day, before de-duplication. */
  records_in: number;
  dropped: { total: number; duplicate_trade: number; duplicate_content: number; examples: DroppedRow[] };
  /** Records older than their segment's key date (late back-fill), kept on the segment's day. */
  early_rows: number;
  /** Records taken over from the day's earlier Parquet object because retention deleted their segments (those stay listed in `sources`). */
  carried_rows: number;
  sources: SourceSegment[];
  raw_bytes: number;
  verified: { at: number; rows: number; sha256: string; method: string };
  compacted_at: number;
  engine: string;
}

/** The stream-day's manifest; null when there is none or it cannot be parsed. */
export async function readManifest(store: ObjectStore, stream: StreamRef, date: string): Promise<DayManifest | null> {
  const got = await store.getOrNull(manifestKey(stream, date));
  if (!got) return null;
  try {
    return JSON.parse(got.body.toString('utf8')) as DayManifest;
  } catch {
    return null; // a torn or foreign manifest: the day is recompacted
  }
}
