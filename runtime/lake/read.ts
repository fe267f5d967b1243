// runtime/lake/read.ts
// Reading the data back: tables trades/orderbook/ticker/ohlcv over a time window from Parquet objects plus not-yet-compacted raw segments.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isoDate } from '../clock.ts';
import { BtcError } from '../errors.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { readManifest, type DayManifest } from './compact-manifest.ts';
import { scanSegment } from './compact-sources.ts';
import { readJsonSql, type Duck } from './duck.ts';
import { addDays, datesBetween, dayStart, DAY_MS, isTopic, sqlString, streamName, TOPIC_SPECS, TOPICS, type StreamRef, type Topic } from './layout.ts';
import { PARQUET_MANIFESTS_PREFIX, parseManifestKey, parseRawSegmentKey, RAW_PREFIX, rawDayPrefix } from '../keys.ts';

export interface Window {
  /** Inclusive start, exclusive end (exchange time, ms). */
  from: number;
  to: number;
}

export interface LoadReport {
  window: { from: string; to: string };
  store: string;
  parquet_objects: number;
  raw_segments: number;
  bytes_fetched: number;
  rows: Record<string, number>;
}

/** A time given as ms since the epoch, an ISO date (`2026-11-20`, UTC midnight) or an ISO date-time; InvalidInput otherwise. */
export function parseTime(text: string, what: string): number {
  if (/^\d{10,}$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : Date.parse(text);
  if (!Number.isFinite(ms)) throw new BtcError('InvalidInput', `${what}: not a time (ms, YYYY-MM-DD or ISO date-time): ${JSON.stringify(text)}`);
  return ms;
}

/** Every stream with raw segments (one LIST of one key per stream: it skips past each stream's keys) or a manifest. */
export async function discoverStreams(store: ObjectStore): Promise<StreamRef[]> {
  const found = new Map<string, StreamRef>();
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.listPage(RAW_PREFIX, { startAfter, limit: 1, etags: false });
    const o = page.objects[0];
    if (!o) break;
    const ref = parseRawSegmentKey(o.key);
    const parts = o.key.split('/');
    if (ref && isTopic(ref.topic)) found.set(ref.stream, { exchange: ref.exchange, topic: ref.topic, symbol: ref.symbol });
    // '~' sorts after every character a key uses: the next key is the next stream's first.
    startAfter = parts.length >= 4 ? `${parts.slice(0, 4).join('/')}/~` : `${o.key}~`;
  }
  for await (const o of listAll(store, PARQUET_MANIFESTS_PREFIX, 1000, { etags: false })) {
    const parsed = parseManifestKey(o.key);
    if (parsed) found.set(streamName(parsed.stream), parsed.stream);
  }
  return [...found.values()].sort((a, b) => (streamName(a) < streamName(b) ? -1 : 1));
}

/**
 * Loads one table per topic (`trades`, `orderbook`, `ticker`, `ohlcv`; columns `exchange`,
 * `symbol` and the topic's Parquet columns) with the records of the window: the Parquet object of
 * every compacted day it touches, and every raw segment not yet covered by a verified manifest
 * (today's data, late segments). Only the partitions of the window's days are fetched, into
 * `scratchDir`. Rows are de-duplicated as compaction does (a late segment may repeat a compacted
 * record).
 */
export async function loadWindow(duck: Duck, store: ObjectStore, scratchDir: string, window: Window, streams: StreamRef[]): Promise<LoadReport> {
  if (!(window.to > window.from)) throw new BtcError('InvalidInput', `--to (${new Date(window.to).toISOString()}) must be after --from (${new Date(window.from).toISOString()})`);
  const report: LoadReport = { window: { from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() }, store: store.describe, parquet_objects: 0, raw_segments: 0, bytes_fetched: 0, rows: {} };
  const firstDate = isoDate(window.from);
  const lastDate = isoDate(window.to - 1);
  const parts = new Map<Topic, string[]>(TOPICS.map((t) => [t, []]));
  let n = 0;
  for (const stream of streams) {
    const spec = TOPIC_SPECS[stream.topic];
    const manifests = new Map<string, DayManifest | null>();
    const manifestOf = async (d: string) => {
      if (!manifests.has(d)) manifests.set(d, await readManifest(store, stream, d));
      return manifests.get(d)!;
    };
    const label = `${sqlString(stream.exchange)} AS exchange, ${sqlString(stream.symbol)} AS symbol`;
    const parquetFiles: string[] = [];
    for (const date of datesBetween(firstDate, lastDate)) {
      const m = await manifestOf(date);
      if (!m?.parquet) continue;
      const got = await store.getOrNull(m.parquet.key);
      if (!got) continue; // the raw segments (if still there) stand in
      const file = path.join(scratchDir, `p${n++}.parquet`);
      await fsp.writeFile(file, got.body);
      parquetFiles.push(file);
      report.parquet_objects++;
      report.bytes_fetched += got.body.length;
    }
    if (parquetFiles.length) {
      parts.get(stream.topic)!.push(`SELECT ${label}, * FROM read_parquet([${parquetFiles.map(sqlString).join(', ')}]) WHERE ts >= ${window.from} AND ts < ${window.to}`);
    }
    // Raw segments keyed from the day before the window (spill past midnight) to its last day.
    const rawFile = path.join(scratchDir, `r${n++}.jsonl`);
    const handle = await fsp.open(rawFile, 'w');
    let rawCount = 0;
    try {
      for (const keyDate of datesBetween(addDays(firstDate, -1), lastDate)) {
        for await (const o of listAll(store, rawDayPrefix(stream, keyDate))) {
          if (!parseRawSegmentKey(o.key)) continue;
          const own = await manifestOf(keyDate);
          const listed = own?.sources.find((s) => s.key === o.key && s.etag === o.etag);
          if (listed && (listed.max_ts < dayStart(keyDate) + DAY_MS || (await manifestOf(addDays(keyDate, 1)))?.sources.some((s) => s.key === o.key && s.etag === o.etag))) continue;
          const got = await store.get(o.key);
          const seg = scanSegment(o.key, got.etag, got.body);
          if (seg.max_ts < window.from || seg.min_ts >= window.to) continue;
          await handle.write(got.body);
          rawCount++;
          report.bytes_fetched += got.body.length;
        }
      }
    } finally {
      await handle.close();
    }
    report.raw_segments += rawCount;
    if (rawCount) parts.get(stream.topic)!.push(`SELECT ${label}, ${spec.select} FROM ${readJsonSql([rawFile], spec.dataType)} WHERE ts >= ${window.from} AND ts < ${window.to}`);
  }
  for (const topic of TOPICS) {
    const spec = TOPIC_SPECS[topic];
    const empty = `SELECT NULL::VARCHAR AS exchange, NULL::VARCHAR AS symbol, ${spec.select} FROM (SELECT NULL::BIGINT AS ts, NULL::BIGINT AS ingest_ts, NULL::BIGINT AS epoch, NULL::BIGINT AS seq, NULL::${spec.dataType} AS data) WHERE false`;
    const union = [empty, ...parts.get(topic)!].join(' UNION ALL BY NAME ');
    await duck.run(`DROP TABLE IF EXISTS ${topic}`);
    await duck.run(
      `CREATE TEMP TABLE ${topic} AS SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY exchange, symbol, ${spec.content.join(', ')} ORDER BY epoch, seq) AS rn FROM (${union})) WHERE rn = 1`,
    );
    const [c] = await duck.rows<{ n: number }>(`SELECT count(*) AS n FROM ${topic}`);
    report.rows[topic] = c!.n;
  }
  return report;
}

/** The ORDER BY of a topic's rows in exchange time. */
export function orderOf(topic: Topic): string {
  return `exchange, symbol, ${TOPIC_SPECS[topic].order}`;
}

export type ExportFormat = 'csv' | 'parquet' | 'jsonl';

/** Writes one loaded topic table, ordered by exchange time, to a local file. Returns rows written. */
export async function exportTable(duck: Duck, stream: StreamRef, format: ExportFormat, out: string): Promise<number> {
  const where = `exchange = ${sqlString(stream.exchange)} AND symbol = ${sqlString(stream.symbol)}`;
  const options = format === 'csv' ? `(FORMAT csv, HEADER true)` : format === 'parquet' ? `(FORMAT parquet, COMPRESSION zstd)` : `(FORMAT json)`;
  await fsp.mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await duck.run(`COPY (SELECT * EXCLUDE (exchange, symbol) FROM ${stream.topic} WHERE ${where} ORDER BY ${orderOf(stream.topic)}) TO ${sqlString(path.resolve(out))} ${options}`);
  const [c] = await duck.rows<{ n: number }>(`SELECT count(*) AS n FROM ${stream.topic} WHERE ${where}`);
  return c!.n;
}
