// runtime/lake/compact-dedup.ts
// A stream-day in DuckDB: the inputs read into typed columns (every line accounted for), duplicates across epochs found without sorting the day, and examples of what was dropped.

import type { DroppedRow } from './compact-manifest.ts';
import type { DayInputs } from './compact-inputs.ts';
import { firstLine, unreadable } from './compact-sources.ts';
import { readJsonSql, type Duck } from './duck.ts';
import { sqlString, type Topic, type TopicSpec } from './layout.ts';

/** Dropped rows listed in the manifest as examples. */
const DROP_EXAMPLES = 20;

/** The temporary tables of one stream-day, dropped before it starts and after it ends (whatever happened). */
export const DROP_DAY_TABLES = 'DROP TABLE IF EXISTS src; DROP TABLE IF EXISTS keys; DROP TABLE IF EXISTS cand; DROP TABLE IF EXISTS dup; DROP TABLE IF EXISTS dropped';

/**
 * One pass of DuckDB's JSON reader over the day's inputs into the temporary table `src` (typed
 * columns, `src_day` 1 for the day's own segments, 0 for the day before's, 2 for the carried
 * Parquet copy; spilled past memory_limit). Every line must come through: the counts are compared
 * with the newline counts of the bodies. Returns the records older than their segment's key date.
 * @throws BtcError Internal naming the segment and line DuckDB could not read, or the count that differs.
 */
export async function readDay(duck: Duck, spec: TopicSpec, inputs: DayInputs, start: number, what: string): Promise<{ early: number }> {
  const { curFile, prevFile, curSources, prevRead, carriedFile } = inputs;
  const expectCur = curSources.reduce((n, s) => n + s.records, 0);
  const expectPrev = prevRead.reduce((n, s) => n + s.records, 0);
  const parts = [
    expectCur ? `SELECT ${spec.select}, 1 AS src_day FROM ${readJsonSql([curFile], spec.dataType)}` : null,
    expectPrev ? `SELECT ${spec.select}, 0 AS src_day FROM ${readJsonSql([prevFile], spec.dataType)}` : null,
    carriedFile ? `SELECT *, 2 AS src_day FROM read_parquet(${sqlString(carriedFile)})` : null,
  ].filter(Boolean);
  // Only deleted sources that held no record of this day: an empty table of the right columns.
  if (!parts.length) parts.push(`SELECT ${spec.select}, 1 AS src_day FROM (SELECT NULL::BIGINT AS ts, NULL::BIGINT AS ingest_ts, NULL::BIGINT AS epoch, NULL::BIGINT AS seq, NULL::${spec.dataType} AS data) WHERE false`);
  const files = [{ file: curFile, sources: curSources }, { file: prevFile, sources: prevRead }];
  try {
    await duck.run(`CREATE TEMP TABLE src AS ${parts.join(' UNION ALL BY NAME ')}`);
  } catch (err) {
    throw await unreadable(what, files, `DuckDB could not read the segments: ${firstLine(err)}`);
  }
  const [counts] = await duck.rows<{ cur: number; prev: number; early: number; incomplete: number }>(
    `SELECT count(*) FILTER (src_day = 1) AS cur, count(*) FILTER (src_day = 0) AS prev, count(*) FILTER (src_day = 1 AND ts < ${start}) AS early,
            count(*) FILTER (src_day <> 2 AND (ts IS NULL OR epoch IS NULL OR seq IS NULL)) AS incomplete FROM src`,
  );
  if (counts!.cur !== expectCur || counts!.prev !== expectPrev || counts!.incomplete) {
    const why = counts!.incomplete
      ? `${counts!.incomplete} record(s) without ts, epoch or seq`
      : `DuckDB read ${counts!.cur}+${counts!.prev} records, the segments hold ${expectCur}+${expectPrev} lines`;
    throw await unreadable(what, files, why);
  }
  return { early: counts!.early };
}

/** The de-duplicated day, as SQL over `src` and `dropped`. */
export interface DedupedDay {
  /** The condition a `src` row of this day meets (records belong to clamp(day(ts), keyDate, keyDate+1)). */
  inDay: string;
  /** The Parquet columns, comma-separated. */
  cols: string;
  /** Subquery of the kept records. */
  kept: string;
  /** Trades: distinct trade ids among all the day's source records; null for other topics. */
  sourceIds: number | null;
}

/**
 * De-duplication without sorting or hashing every row on its full content: only records whose
 * duplicate key (trades: the trade id; other topics: the exchange time) occurs more than once in
 * the day, or is NULL, are candidates. Among them one exact GROUP BY on the content (NULLs group
 * together, as PARTITION BY would) finds the groups seen more than once, each keeping its lowest
 * (epoch, seq) copy (a raw record before the carried Parquet copy of itself; rowid breaks exact
 * ties so exactly one copy stays). Every other member of such a group is a row of `dropped`.
 */
export async function deduplicateDay(duck: Duck, topic: Topic, spec: TopicSpec, start: number, end: number): Promise<DedupedDay> {
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
    `CREATE TEMP TABLE dropped AS SELECT c.rid, c.ts, ${topic === 'trades' ? 'c.id' : 'NULL::VARCHAR AS id'}, c.epoch, c.seq, c.src_day, d.kept.epoch AS kept_epoch, d.kept.seq AS kept_seq
     FROM cand c JOIN dup d ON ${content.map((col) => `c.${col} IS NOT DISTINCT FROM d.${col}`).join(' AND ')}
     WHERE c.rid <> d.kept.rid`,
  );
  // Trades: the distinct ids of all the day's source records (the stored copy is checked against it).
  const [ids] = await duck.rows<{ n: number }>(`SELECT count(*) AS n FROM keys WHERE k IS NOT NULL`);
  await duck.run(`DROP TABLE cand; DROP TABLE keys`);
  const columns = spec.select.split(/,\s*(?![^(]*\))/).map((c) => c.split(/\s+AS\s+/i).pop()!.trim());
  const cols = columns.join(', ');
  const kept = `(SELECT s.* FROM src s ANTI JOIN dropped x ON x.rid = s.rowid WHERE ${sIn})`;
  return { inDay, cols, kept, sourceIds: topic === 'trades' ? ids!.n : null };
}

/** The first DROP_EXAMPLES dropped raw records (by time), each with the copy that was kept. */
export async function droppedExamples(duck: Duck, reason: DroppedRow['reason']): Promise<DroppedRow[]> {
  const examples = await duck.rows<{ ts: number; id: string | null; epoch: number; seq: number; kept_epoch: number; kept_seq: number }>(
    `SELECT ts, id, epoch, seq, kept_epoch, kept_seq FROM dropped WHERE src_day <> 2 ORDER BY ts, epoch, seq LIMIT ${DROP_EXAMPLES}`,
  );
  return examples.map((e) => ({ reason, ts: e.ts, id: e.id, kept: { epoch: e.kept_epoch, seq: e.kept_seq }, dropped: { epoch: e.epoch, seq: e.seq } }));
}
