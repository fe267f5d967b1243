// runtime/lake/compact.ts
// Daily compaction: every raw segment of a stream-day (all epochs) → one verified, de-duplicated, time-ordered Parquet object and its manifest.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import { etagOf } from '../store/fs.ts';
import type { ObjectStore } from '../store/types.ts';
import { readManifest, type DayManifest, type DroppedRow } from './compact-manifest.ts';
import { planCompaction, reasonToCompact, type ListedSegments } from './compact-plan.ts';
import { downloadInto, firstLine, listObjects, unreadable } from './compact-sources.ts';
import { openDuck, readJsonSql, type Duck } from './duck.ts';
import {
  addDays, dayStart, DAY_MS, isTopic, sqlString, streamName, TOPIC_SPECS,
  type StreamRef,
} from './layout.ts';
import { manifestKey, parquetKey, rawDayPrefix } from '../keys.ts';

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

const DROP_EXAMPLES = 20;

/**
 * Compacts one stream-day. Sources: every raw segment keyed dt=<date> (every epoch) and those of
 * dt=<date-1> holding records of <date> (a segment is keyed by its first record's day, so the
 * last one before midnight spills over). A record belongs to clamp(day(ts), keyDate, keyDate+1):
 * every record has exactly one day, whatever its segment. Steps: download → DuckDB reads the
 * JSONL → de-duplicate (trades: same id and content; others: same ts and content), order by
 * exchange time → Parquet (zstd) → upload (same key every run: one object per stream-day) → read
 * the stored object back and check sha256, row set and trade ids against the sources → manifest.
 * A crash at any step leaves either the old state or an object without a matching manifest, which
 * the next run recompacts. Errors: BtcError Internal when a check fails (nothing is deleted then).
 */
export async function compactStreamDay(stream: StreamRef, date: string, options: CompactOptions, duck?: Duck, listed?: ListedSegments): Promise<DayResult> {
  const started = Date.now();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const name = streamName(stream);
  if (!isTopic(stream.topic)) throw new BtcError('InvalidInput', `no Parquet layout for topic ${stream.topic}`);
  const spec = TOPIC_SPECS[stream.topic];
  const dir = await fsp.mkdtemp(path.join(options.scratchDir, `day-`));
  const ownDuck = !duck;
  duck ??= await openDuck({ scratchDir: options.scratchDir, threads: options.threads, memoryLimit: options.memoryLimit });
  try {
    const start = dayStart(date);
    const end = start + DAY_MS;
    const prevDate = addDays(date, -1);
    const current = listed?.current ?? (await listObjects(options.store, rawDayPrefix(stream, date)));
    const previous = listed?.previous ?? (await listObjects(options.store, rawDayPrefix(stream, prevDate)));
    // Segments of the day before whose records all end before midnight (known from its manifest) need no download.
    const prevManifest = await readManifest(options.store, stream, prevDate);
    const known = new Map((prevManifest?.sources ?? []).map((s) => [`${s.key}\0${s.etag}`, s]));
    const prevCandidates = previous.filter((o) => {
      const s = known.get(`${o.key}\0${o.etag}`);
      return !s || s.max_ts >= start;
    });
    const curFile = path.join(dir, 'cur.jsonl');
    const prevFile = path.join(dir, 'prev.jsonl');
    const curSources = await downloadInto(options, current, curFile);
    const prevRead = await downloadInto(options, prevCandidates, prevFile);
    const prevSources = prevRead.filter((s) => s.max_ts >= start);
    await options.onStep?.('downloaded', name, date);
    // Sources of an earlier compaction of this day that retention has deleted since: their records
    // live on only in the day's verified Parquet object, which is then read as one more source.
    const oldManifest = await readManifest(options.store, stream, date);
    const present = new Set([...current, ...previous].map((o) => o.key));
    const gone = (oldManifest?.sources ?? []).filter((s) => !present.has(s.key));
    let carriedFile: string | null = null;
    if (gone.length && oldManifest?.parquet) {
      const old = await options.store.getOrNull(oldManifest.parquet.key);
      const oldSha = old ? createHash('sha256').update(old.body).digest('hex') : null;
      if (!old || oldSha !== oldManifest.parquet.sha256) {
        throw new BtcError('Internal', `${name} ${date}: ${gone.length} source segment(s) were deleted and the verified Parquet object that holds their records is ${old ? 'changed' : 'missing'}; not recompacted (records would be lost)`);
      }
      carriedFile = path.join(dir, 'carried.parquet');
      await fsp.writeFile(carriedFile, old.body);
    }
    const sources = [...prevSources, ...curSources, ...gone];
    if (sources.length === 0) return { stream: name, date, action: 'empty', manifest: null, elapsed_ms: Date.now() - started };

    // Every line must come through DuckDB: compare its count with the newline count of the bodies.
    const expectCur = curSources.reduce((n, s) => n + s.records, 0);
    const expectPrev = prevRead.reduce((n, s) => n + s.records, 0);
    const cpuMs = (since: NodeJS.CpuUsage) => {
      const c = process.cpuUsage(since);
      return Math.round((c.user + c.system) / 1000);
    };
    const phases: DayPhases = {
      fetch_ms: Math.round(performance.now() - t0), read_ms: 0, dedup_ms: 0, write_ms: 0, verify_ms: 0,
      cpu_ms: { fetch: cpuMs(cpu0), read: 0, dedup: 0, write: 0, verify: 0 },
    };
    let mark = performance.now();
    let cpuMark = process.cpuUsage();
    const lap = (phase: 'read' | 'dedup' | 'write' | 'verify') => {
      const now = performance.now();
      phases[`${phase}_ms`] += Math.round(now - mark);
      phases.cpu_ms[phase] += cpuMs(cpuMark);
      mark = now;
      cpuMark = process.cpuUsage();
    };
    await duck.run(`DROP TABLE IF EXISTS src; DROP TABLE IF EXISTS keys; DROP TABLE IF EXISTS cand; DROP TABLE IF EXISTS dup; DROP TABLE IF EXISTS dropped`);
    const parts = [
      expectCur ? `SELECT ${spec.select}, 1 AS src_day FROM ${readJsonSql([curFile], spec.dataType)}` : null,
      expectPrev ? `SELECT ${spec.select}, 0 AS src_day FROM ${readJsonSql([prevFile], spec.dataType)}` : null,
      carriedFile ? `SELECT *, 2 AS src_day FROM read_parquet(${sqlString(carriedFile)})` : null,
    ].filter(Boolean);
    // Only deleted sources that held no record of this day: an empty table of the right columns.
    if (!parts.length) parts.push(`SELECT ${spec.select}, 1 AS src_day FROM (SELECT NULL::BIGINT AS ts, NULL::BIGINT AS ingest_ts, NULL::BIGINT AS epoch, NULL::BIGINT AS seq, NULL::${spec.dataType} AS data) WHERE false`);
    const inputs = [{ file: curFile, sources: curSources }, { file: prevFile, sources: prevRead }];
    // One pass of DuckDB's JSON reader over the day: typed columns into a temporary table (spilled past memory_limit).
    try {
      await duck.run(`CREATE TEMP TABLE src AS ${parts.join(' UNION ALL BY NAME ')}`);
    } catch (err) {
      throw await unreadable(`${name} ${date}`, inputs, `DuckDB could not read the segments: ${firstLine(err)}`);
    }
    const [counts] = await duck.rows<{ cur: number; prev: number; early: number; incomplete: number }>(
      `SELECT count(*) FILTER (src_day = 1) AS cur, count(*) FILTER (src_day = 0) AS prev, count(*) FILTER (src_day = 1 AND ts < ${start}) AS early,
              count(*) FILTER (src_day <> 2 AND (ts IS NULL OR epoch IS NULL OR seq IS NULL)) AS incomplete FROM src`,
    );
    if (counts!.cur !== expectCur || counts!.prev !== expectPrev || counts!.incomplete) {
      const why = counts!.incomplete
        ? `${counts!.incomplete} record(s) without ts, epoch or seq`
        : `DuckDB read ${counts!.cur}+${counts!.prev} records, the segments hold ${expectCur}+${expectPrev} lines`;
      throw await unreadable(`${name} ${date}`, inputs, why);
    }
    lap('read');
    // De-duplication without sorting or hashing every row on its full content: only records whose
    // duplicate key (trades: the trade id; other topics: the exchange time) occurs more than once
    // in the day, or is NULL, are candidates. Among them one exact GROUP BY on the content (NULLs
    // group together, as PARTITION BY would) finds the groups seen more than once, each keeping its
    // lowest (epoch, seq) copy (a raw record before the carried Parquet copy of itself; rowid breaks
    // exact ties so exactly one copy stays). Every other member of such a group is a dropped row.
    const inDay = `((src_day = 1 AND ts < ${end}) OR (src_day = 0 AND ts >= ${start}) OR src_day = 2)`;
    const sIn = inDay.replace(/\b(src_day|ts)\b/g, 's.$1');
    const content = spec.content;
    const key = spec.dupKey;
    await duck.run(`CREATE TEMP TABLE keys AS SELECT ${key} AS k, count(*) AS n FROM src WHERE ${inDay} GROUP BY ${key}`);
    await duck.run(`CREATE TEMP TABLE cand AS SELECT s.rowid AS rid, s.* FROM src s WHERE ${sIn} AND (s.${key} IS NULL OR s.${key} IN (SELECT k FROM keys WHERE n > 1))`);
    await duck.run(
      `CREATE TEMP TABLE dup AS SELECT ${content.join(', ')}, min({'epoch': epoch, 'seq': seq, 'carried': src_day = 2, 'rid': rid}) AS kept
       FROM cand GROUP BY ${content.join(', ')} HAVING count(*) > 1`,
    );
    await duck.run(
      `CREATE TEMP TABLE dropped AS SELECT c.rid, c.ts, ${stream.topic === 'trades' ? 'c.id' : 'NULL::VARCHAR AS id'}, c.epoch, c.seq, c.src_day, d.kept.epoch AS kept_epoch, d.kept.seq AS kept_seq
       FROM cand c JOIN dup d ON ${content.map((col) => `c.${col} IS NOT DISTINCT FROM d.${col}`).join(' AND ')}
       WHERE c.rid <> d.kept.rid`,
    );
    // Trades: the distinct ids of all the day's source records (the stored copy is checked against it).
    const [ids] = await duck.rows<{ n: number }>(`SELECT count(*) AS n FROM keys WHERE k IS NOT NULL`);
    await duck.run(`DROP TABLE cand; DROP TABLE keys`);
    const columns = spec.select.split(/,\s*(?![^(]*\))/).map((c) => c.split(/\s+AS\s+/i).pop()!.trim());
    const cols = columns.join(', ');
    const kept = `(SELECT s.* FROM src s ANTI JOIN dropped x ON x.rid = s.rowid WHERE ${sIn})`;
    const facts = await sourceFacts(duck, kept, inDay, cols, stream.topic === 'trades' ? ids!.n : null);
    lap('dedup');
    const localParquet = path.join(dir, 'out.parquet');
    await duck.run(
      `COPY (SELECT ${cols} FROM ${kept} ORDER BY ${spec.order}) TO ${sqlString(localParquet)} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)`,
    );
    const dropReason = stream.topic === 'trades' ? 'duplicate_trade' : 'duplicate_content';
    const examples = await duck.rows<{ ts: number; id: string | null; epoch: number; seq: number; kept_epoch: number; kept_seq: number }>(
      `SELECT ts, id, epoch, seq, kept_epoch, kept_seq FROM dropped WHERE src_day <> 2 ORDER BY ts, epoch, seq LIMIT ${DROP_EXAMPLES}`,
    );
    await options.onStep?.('written', name, date);
    const body = await fsp.readFile(localParquet);
    const sha256 = createHash('sha256').update(body).digest('hex');
    lap('write');
    const verifyMethod =
      'sha256 of the stored object; on the stored copy against the kept records: row count, order-free sums of hash(epoch, seq) and of hash(every column), min/max ts; distinct trade ids against the sources';
    const manifestBase = {
      version: 1 as const, stream: name, exchange: stream.exchange, topic: stream.topic, symbol: stream.symbol, date,
      rows: facts.rows, min_ts: facts.min_ts, max_ts: facts.max_ts, epochs: facts.epochs, trade_ids: facts.trade_ids,
      records_in: facts.records_in,
      dropped: {
        total: facts.records_in - facts.rows,
        duplicate_trade: dropReason === 'duplicate_trade' ? facts.records_in - facts.rows : 0,
        duplicate_content: dropReason === 'duplicate_content' ? facts.records_in - facts.rows : 0,
        examples: examples.map((e) => ({ reason: dropReason as DroppedRow['reason'], ts: e.ts, id: e.id, kept: { epoch: e.kept_epoch, seq: e.kept_seq }, dropped: { epoch: e.epoch, seq: e.seq } })),
      },
      early_rows: counts!.early,
      carried_rows: carriedFile ? oldManifest!.rows : 0,
      sources,
      raw_bytes: sources.reduce((n, s) => n + s.size, 0),
      compacted_at: options.now(),
      engine: `duckdb ${(await duck.rows<{ v: string }>('SELECT version() AS v'))[0]!.v}`,
    };
    if (options.dryRun) {
      const manifest: DayManifest = { ...manifestBase, parquet: facts.rows ? { key: parquetKey(stream, date), bytes: body.length, sha256, etag: '' } : null, verified: { at: 0, rows: 0, sha256: '', method: 'dry run: not uploaded' } };
      return { stream: name, date, action: 'would_compact', manifest, elapsed_ms: Date.now() - started, phases };
    }
    let parquet: DayManifest['parquet'] = null;
    if (facts.rows > 0) {
      const key = parquetKey(stream, date);
      const put = await options.store.put(key, body, { contentType: 'application/vnd.apache.parquet', md5: etagOf(body) });
      await options.onStep?.('uploaded', name, date);
      // Verify what the store holds, not what we meant to send.
      const back = await options.store.get(key);
      const backSha = createHash('sha256').update(back.body).digest('hex');
      if (backSha !== sha256) throw new BtcError('Internal', `${key}: the stored object reads back with sha256 ${backSha}, written ${sha256}; not recorded as compacted`);
      const stored = path.join(dir, 'stored.parquet');
      await fsp.writeFile(stored, back.body);
      await verifyParquet(duck, stored, facts, cols, stream.topic === 'trades', `${name} ${date}`);
      parquet = { key, bytes: body.length, sha256, etag: put.etag || back.etag };
    }
    const manifest: DayManifest = { ...manifestBase, parquet, verified: { at: options.now(), rows: facts.rows, sha256, method: verifyMethod } };
    await options.onStep?.('verified', name, date);
    await options.store.put(manifestKey(stream, date), JSON.stringify(manifest), { contentType: 'application/json' });
    lap('verify');
    return { stream: name, date, action: 'compacted', manifest, elapsed_ms: Date.now() - started, phases };
  } finally {
    await duck.run(`DROP TABLE IF EXISTS src; DROP TABLE IF EXISTS keys; DROP TABLE IF EXISTS cand; DROP TABLE IF EXISTS dup; DROP TABLE IF EXISTS dropped`).catch(() => undefined);
    if (ownDuck) duck.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

interface Facts {
  rows: number;
  records_in: number;
  min_ts: number | null;
  max_ts: number | null;
  epochs: number[];
  trade_ids: DayManifest['trade_ids'];
  /** Order-free fingerprints of the kept records: sums (HUGEINT, as text) of hash(epoch, seq) and of hash(every column). */
  keys_sum: string;
  rows_sum: string;
  /** Trades: distinct trade ids among all records of the day in the sources (before de-duplication). */
  source_ids: number | null;
}

/** Counts, ranges and fingerprints of the kept records (`kept`: a subquery) and of the day's source records. */
async function sourceFacts(duck: Duck, kept: string, inDay: string, cols: string, sourceIds: number | null): Promise<Facts> {
  const trades = sourceIds !== null;
  const [f] = await duck.rows<{ rows: number; min_ts: number | null; max_ts: number | null; keys_sum: unknown; rows_sum: unknown; min: number | null; max: number | null; fmin: number | null; lmax: number | null }>(
    `SELECT count(*) AS rows, min(ts) AS min_ts, max(ts) AS max_ts, sum(hash(epoch, seq))::VARCHAR AS keys_sum, sum(hash(${cols}))::VARCHAR AS rows_sum,
       ${trades ? 'min(TRY_CAST(id AS BIGINT)) AS min, max(TRY_CAST(id AS BIGINT)) AS max, min(first_trade_id) AS fmin, max(last_trade_id) AS lmax' : 'NULL AS min, NULL AS max, NULL AS fmin, NULL AS lmax'}
     FROM ${kept}`,
  );
  // records_in: records of the raw sources; a carried copy of a record whose segment still exists is no duplicate.
  const [s] = await duck.rows<{ dropped_raw: number; epochs: number[] | null }>(
    `SELECT (SELECT count(*) FROM dropped WHERE src_day <> 2) AS dropped_raw, (SELECT list(DISTINCT epoch ORDER BY epoch) FROM src WHERE ${inDay}) AS epochs`,
  );
  // Every content group keeps one record and the id is part of the content: the kept records hold
  // exactly the sources' distinct ids (the stored copy is checked against this count).
  const tradeIds: DayManifest['trade_ids'] = trades
    ? { min: f!.min, max: f!.max, distinct: sourceIds, first_trade_id_min: f!.fmin, last_trade_id_max: f!.lmax, same_id_different_content: f!.rows - sourceIds }
    : null;
  return {
    rows: f!.rows, records_in: f!.rows + s!.dropped_raw, min_ts: f!.min_ts, max_ts: f!.max_ts, epochs: (s!.epochs ?? []).map(Number), trade_ids: tradeIds,
    keys_sum: String(f!.keys_sum), rows_sum: String(f!.rows_sum), source_ids: sourceIds,
  };
}

/**
 * The stored Parquet copy holds exactly the kept records: same row count and ts range, and the
 * same order-free sums of hash(epoch, seq) and of hash(every column) — a missing, extra, repeated
 * or altered row changes a sum (a 64-bit hash collision aside) — and, for trades, as many distinct
 * ids as the sources of the day had (so every source trade id is in it).
 */
async function verifyParquet(duck: Duck, file: string, facts: Facts, cols: string, trades: boolean, what: string): Promise<void> {
  const p = `read_parquet(${sqlString(file)})`;
  const [c] = await duck.rows<{ rows: number; min_ts: number | null; max_ts: number | null; keys_sum: unknown; rows_sum: unknown; ids: number | null }>(
    `SELECT count(*) AS rows, min(ts) AS min_ts, max(ts) AS max_ts, sum(hash(epoch, seq))::VARCHAR AS keys_sum, sum(hash(${cols}))::VARCHAR AS rows_sum,
       ${trades ? 'count(DISTINCT id)' : 'NULL'} AS ids FROM ${p}`,
  );
  const problems: string[] = [];
  if (c!.rows !== facts.rows) problems.push(`${c!.rows} rows, expected ${facts.rows}`);
  if (String(c!.keys_sum) !== facts.keys_sum) problems.push('the (epoch, seq) set differs from the kept records');
  if (String(c!.rows_sum) !== facts.rows_sum) problems.push('row contents differ from the kept records');
  if (trades && c!.ids !== facts.source_ids) problems.push(`${c!.ids} distinct trade ids, the sources hold ${facts.source_ids}`);
  if (c!.min_ts !== facts.min_ts || c!.max_ts !== facts.max_ts) problems.push(`ts range ${c!.min_ts}..${c!.max_ts}, expected ${facts.min_ts}..${facts.max_ts}`);
  if (problems.length) throw new BtcError('Internal', `${what}: Parquet verification failed: ${problems.join('; ')}; raw segments stay`);
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

