// runtime/lake/compact.ts
// Daily compaction: every raw segment of a stream-day (all epochs) → one verified, de-duplicated, time-ordered Parquet object and its manifest (steps: compact-inputs.ts, compact-dedup.ts, compact-verify.ts).

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { deduplicateDay, droppedExamples, DROP_DAY_TABLES, readDay } from './compact-dedup.ts';
import { gatherDayInputs } from './compact-inputs.ts';
import { readManifest, type DayManifest } from './compact-manifest.ts';
import { planCompaction, reasonToCompact, type ListedSegments } from './compact-plan.ts';
import { sourceFacts, uploadVerified } from './compact-verify.ts';
import { openDuck, type Duck } from './duck.ts';
import { dayStart, DAY_MS, isTopic, sqlString, streamName, TOPIC_SPECS, type StreamRef } from './layout.ts';
import { manifestKey, parquetKey } from '../keys.ts';

/** Where a stream-day's time went (ms): fetch = list + GET + write to scratch + line scan; the rest is DuckDB and the upload. */
export interface DayPhases {
  fetch_ms: number;
  /** DuckDB's JSON reader: the day's JSONL into typed columns. */
  read_ms: number;
  /** Duplicate groups, dropped rows, counts and fingerprints of the kept records. */
  dedup_ms: number;
  /** Sort and Parquet (zstd) write, sha256. */
  write_ms: number;
  /** Upload, read-back, verification, manifest. */
  verify_ms: number;
  /** CPU time of the process (all DuckDB threads) in each phase (ms): the cost whatever else the machine runs. */
  cpu_ms: { fetch: number; read: number; dedup: number; write: number; verify: number };
}

export interface DayResult {
  stream: string;
  date: string;
  action: 'compacted' | 'would_compact' | 'empty' | 'failed';
  manifest: DayManifest | null;
  elapsed_ms: number;
  phases?: DayPhases;
}

export interface CompactOptions {
  store: ObjectStore;
  /** A directory this run may fill and that is removed afterwards. */
  scratchDir: string;
  dryRun?: boolean;
  now: () => number;
  /** Parallel GETs of raw segments (default 16). */
  downloadConcurrency?: number;
  threads?: number;
  memoryLimit?: string;
  /** Test hook: called between the steps (`downloaded`, `written`, `uploaded`, `verified`); a kill test stops here. */
  onStep?: (step: string, stream: string, date: string) => void | Promise<void>;
}

/** How a stream-day's copy was checked, recorded in its manifest. */
const VERIFY_METHOD =
  'sha256 of the stored object; on the stored copy against the kept records: row count, order-free sums of hash(epoch, seq) and of hash(every column), min/max ts; distinct trade ids against the sources';

/**
 * Compacts one stream-day. Sources: every raw segment keyed dt=<date> (every epoch) and those of
 * dt=<date-1> holding records of <date> (a segment is keyed by its first record's day, so the
 * last one before midnight spills over). A record belongs to clamp(day(ts), keyDate, keyDate+1):
 * every record has exactly one day, whatever its segment. Steps: download (gatherDayInputs) →
 * DuckDB reads the JSONL (readDay) → de-duplicate (trades: same id and content; others: same ts
 * and content; deduplicateDay), order by exchange time → Parquet (zstd) → upload (same key every
 * run: one object per stream-day) → read the stored object back and check sha256, row set and
 * trade ids against the sources (uploadVerified) → manifest. A crash at any step leaves either the
 * old state or an object without a matching manifest, which the next run recompacts. Errors:
 * BtcError Internal when a check fails (nothing is deleted then).
 */
export async function compactStreamDay(stream: StreamRef, date: string, options: CompactOptions, duck?: Duck, listed?: ListedSegments): Promise<DayResult> {
  const started = Date.now();
  const clock = phaseClock();
  const name = streamName(stream);
  if (!isTopic(stream.topic)) throw new BtcError('InvalidInput', `no Parquet layout for topic ${stream.topic}`);
  const spec = TOPIC_SPECS[stream.topic];
  const dir = await fsp.mkdtemp(path.join(options.scratchDir, `day-`));
  const ownDuck = !duck;
  duck ??= await openDuck({ scratchDir: options.scratchDir, threads: options.threads, memoryLimit: options.memoryLimit });
  try {
    const start = dayStart(date);
    const inputs = await gatherDayInputs(stream, date, options, dir, listed, () => options.onStep?.('downloaded', name, date));
    if (inputs.sources.length === 0) return { stream: name, date, action: 'empty', manifest: null, elapsed_ms: Date.now() - started };
    const phases = clock.fetched();
    await duck.run(DROP_DAY_TABLES);
    const { early } = await readDay(duck, spec, inputs, start, `${name} ${date}`);
    clock.lap('read');
    const day = await deduplicateDay(duck, stream.topic, spec, start, start + DAY_MS);
    const facts = await sourceFacts(duck, day.kept, day.inDay, day.cols, day.sourceIds);
    clock.lap('dedup');
    const localParquet = path.join(dir, 'out.parquet');
    await duck.run(`COPY (SELECT ${day.cols} FROM ${day.kept} ORDER BY ${spec.order}) TO ${sqlString(localParquet)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`);
    const dropReason = stream.topic === 'trades' ? 'duplicate_trade' : 'duplicate_content';
    const examples = await droppedExamples(duck, dropReason);
    await options.onStep?.('written', name, date);
    const body = await fsp.readFile(localParquet);
    const sha256 = createHash('sha256').update(body).digest('hex');
    clock.lap('write');
    const dropped = facts.records_in - facts.rows;
    const manifestBase = {
      version: 1 as const, stream: name, exchange: stream.exchange, topic: stream.topic, symbol: stream.symbol, date,
      rows: facts.rows, min_ts: facts.min_ts, max_ts: facts.max_ts, epochs: facts.epochs, trade_ids: facts.trade_ids,
      records_in: facts.records_in,
      dropped: { total: dropped, duplicate_trade: dropReason === 'duplicate_trade' ? dropped : 0, duplicate_content: dropReason === 'duplicate_content' ? dropped : 0, examples },
      early_rows: early,
      carried_rows: inputs.carriedFile ? inputs.oldManifest!.rows : 0,
      sources: inputs.sources,
      raw_bytes: inputs.sources.reduce((n, s) => n + s.size, 0),
      compacted_at: options.now(),
      engine: `duckdb ${(await duck.rows<{ v: string }>('SELECT version() AS v'))[0]!.v}`,
    };
    if (options.dryRun) {
      const manifest: DayManifest = { ...manifestBase, parquet: facts.rows ? { key: parquetKey(stream, date), bytes: body.length, sha256, etag: '' } : null, verified: { at: 0, rows: 0, sha256: '', method: 'dry run: not uploaded' } };
      return { stream: name, date, action: 'would_compact', manifest, elapsed_ms: Date.now() - started, phases };
    }
    const check = { facts, cols: day.cols, trades: stream.topic === 'trades', what: `${name} ${date}`, dir };
    const parquet = facts.rows > 0 ? await uploadVerified(duck, options.store, parquetKey(stream, date), body, sha256, check, () => options.onStep?.('uploaded', name, date)) : null;
    const manifest: DayManifest = { ...manifestBase, parquet, verified: { at: options.now(), rows: facts.rows, sha256, method: VERIFY_METHOD } };
    await options.onStep?.('verified', name, date);
    await options.store.put(manifestKey(stream, date), JSON.stringify(manifest), { contentType: 'application/json' });
    clock.lap('verify');
    return { stream: name, date, action: 'compacted', manifest, elapsed_ms: Date.now() - started, phases };
  } finally {
    await duck.run(DROP_DAY_TABLES).catch(() => undefined);
    if (ownDuck) duck.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Wall and CPU time per phase of one stream-day, from its start: `fetched()` closes the fetch
 * phase and returns the DayPhases it keeps filling; `lap(phase)` adds the time since the last mark.
 */
function phaseClock(): { fetched(): DayPhases; lap(phase: 'read' | 'dedup' | 'write' | 'verify'): void } {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const c = process.cpuUsage(since);
    return Math.round((c.user + c.system) / 1000);
  };
  let phases: DayPhases | null = null;
  let mark = 0;
  let cpuMark = cpu0;
  return {
    fetched() {
      phases = {
        fetch_ms: Math.round(performance.now() - t0), read_ms: 0, dedup_ms: 0, write_ms: 0, verify_ms: 0,
        cpu_ms: { fetch: cpuMs(cpu0), read: 0, dedup: 0, write: 0, verify: 0 },
      };
      mark = performance.now();
      cpuMark = process.cpuUsage();
      return phases;
    },
    lap(phase) {
      const now = performance.now();
      phases![`${phase}_ms`] += Math.round(now - mark);
      phases!.cpu_ms[phase] += cpuMs(cpuMark);
      mark = now;
      cpuMark = process.cpuUsage();
    },
  };
}

export interface CompactRunReport {
  dry_run: boolean;
  planned: number;
  /** Listing the raw segments and reading manifests to make the plan (ms). */
  plan_ms: number;
  days: Array<Omit<DayResult, 'manifest'> & { reason: string; rows: number; records_in: number; dropped: number; sources: number; raw_bytes: number; parquet_bytes: number | null; error?: string }>;
  failed: number;
}

/**
 * Plans and compacts, in date order per stream (a day's manifest tells the next day which
 * segments of the day before end before midnight). One failed day is reported and the others go on.
 */
export async function compactAll(options: CompactOptions & { graceMs: number; streams?: StreamRef[]; dates?: string[]; force?: boolean }): Promise<CompactRunReport> {
  const planStarted = performance.now();
  const plan = await planCompaction(options.store, { now: options.now(), graceMs: options.graceMs, streams: options.streams, dates: options.dates, force: options.force });
  const planMs = Math.round(performance.now() - planStarted);
  const duck = await openDuck({ scratchDir: options.scratchDir, threads: options.threads, memoryLimit: options.memoryLimit });
  const report: CompactRunReport = { dry_run: options.dryRun === true, planned: plan.length, plan_ms: planMs, days: [], failed: 0 };
  try {
    for (const item of plan) {
      const started = Date.now();
      try {
        if (item.recheck && !options.dryRun) {
          const fresh = (d: string) => readManifest(options.store, item.stream, d);
          if (!(await reasonToCompact(options.store, item.stream, item.date, item.recheck.own, item.recheck.prev, fresh))) continue;
        }
        const r = await compactStreamDay(item.stream, item.date, options, duck, item.listed);
        const m = r.manifest;
        report.days.push({
          stream: r.stream, date: r.date, action: r.action, elapsed_ms: r.elapsed_ms, phases: r.phases, reason: item.reason,
          rows: m?.rows ?? 0, records_in: m?.records_in ?? 0, dropped: m?.dropped.total ?? 0, sources: m?.sources.length ?? 0,
          raw_bytes: m?.raw_bytes ?? 0, parquet_bytes: m?.parquet?.bytes ?? null,
        });
      } catch (err) {
        report.failed++;
        report.days.push({
          stream: streamName(item.stream), date: item.date, action: 'failed', elapsed_ms: Date.now() - started, reason: item.reason,
          rows: 0, records_in: 0, dropped: 0, sources: 0, raw_bytes: 0, parquet_bytes: null, error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  } finally {
    duck.close();
  }
  return report;
}

