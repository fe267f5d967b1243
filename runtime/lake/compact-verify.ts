// runtime/lake/compact-verify.ts
// Proof that a stream-day's Parquet object holds exactly the kept records: order-free fingerprints of the kept rows, the upload read back and checked against them.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import { etagOf } from '../store/fs.ts';
import type { ObjectStore } from '../store/types.ts';
import type { DayManifest } from './compact-manifest.ts';
import type { Duck } from './duck.ts';
import { sqlString } from './layout.ts';

/** What the stored copy of a stream-day must hold, counted on the kept records. */
export interface Facts {
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
export async function sourceFacts(duck: Duck, kept: string, inDay: string, cols: string, sourceIds: number | null): Promise<Facts> {
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
export async function verifyParquet(duck: Duck, file: string, facts: Facts, cols: string, trades: boolean, what: string): Promise<void> {
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

/**
 * Uploads the day's Parquet `body` under `key` (the same key every run), then verifies what the
 * store holds, not what was meant to be sent: its sha256, then its rows against `facts`
 * (verifyParquet, on a copy in `dir`). `onUploaded` runs between the upload and the read-back.
 * Returns the manifest's `parquet` entry. @throws BtcError Internal when a check fails.
 */
export async function uploadVerified(
  duck: Duck,
  store: ObjectStore,
  key: string,
  body: Buffer,
  sha256: string,
  check: { facts: Facts; cols: string; trades: boolean; what: string; dir: string },
  onUploaded: () => void | Promise<void>,
): Promise<NonNullable<DayManifest['parquet']>> {
  const put = await store.put(key, body, { contentType: 'application/vnd.apache.parquet', md5: etagOf(body) });
  await onUploaded();
  const back = await store.get(key);
  const backSha = createHash('sha256').update(back.body).digest('hex');
  if (backSha !== sha256) throw new BtcError('Internal', `${key}: the stored object reads back with sha256 ${backSha}, written ${sha256}; not recorded as compacted`);
  const stored = path.join(check.dir, 'stored.parquet');
  await fsp.writeFile(stored, back.body);
  await verifyParquet(duck, stored, check.facts, check.cols, check.trades, check.what);
  return { key, bytes: body.length, sha256, etag: put.etag || back.etag };
}
