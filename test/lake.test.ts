// test/lake.test.ts
// Compaction, retention, query and export against a real MinIO: a failover day with overlapping epochs, kill -9 mid-run, a late segment.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Runtime } from '../runtime/context.ts';
import { openDuck, type Duck } from '../runtime/lake/duck.ts';
import { sqlString, streamName, type StreamRef } from '../runtime/lake/layout.ts';
import { exportTable, loadWindow } from '../runtime/lake/read.ts';
import { applyRetention } from '../runtime/lake/retention.ts';
import { compactAll } from '../runtime/lake/compact.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { capacityReport } from '../runtime/lake/capacity.ts';
import { makeIncident } from '../runtime/lake/incident.ts';
import { DashboardData } from '../runtime/http/dashboard-data.ts';
import { DataCard } from '../runtime/http/dashboard-data-card.tsx';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';
import type { StreamId } from '../runtime/streams.ts';
import { segments, type SegmentSpec } from './helpers/data-fixtures.ts';
import { runCli } from './helpers/run-cli.ts';
import { freshBucket, inProcessRuntime, readAuditEvents, runtimeEnv, type S3Target } from './helpers/sync-fixtures.ts';
import { manifestKey, parquetKey } from '../runtime/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const DAY = '2026-11-20';
const T0 = Date.parse(`${DAY}T00:00:00Z`);
const HOUR = 3_600_000;
const TRADES: StreamId = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
const BOOK: StreamId = { exchange: 'binance', topic: 'orderbook', symbol: 'BTC/USDT' };
const TICKER: StreamId = { exchange: 'binance', topic: 'ticker', symbol: 'ETH/USDT' };
const CANDLES: StreamId = { exchange: 'binance', topic: 'ohlcv', symbol: 'BTC/USDT' };
const ref = (s: StreamId): StreamRef => ({ exchange: s.exchange, topic: s.topic as StreamRef['topic'], symbol: s.symbol.replace('/', '-') });

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function runtimeOn(target: S3Target, dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lake-'))): Promise<Runtime> {
  const rt = await inProcessRuntime(target, dataDir);
  cleanups.push(async () => {
    await rt.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return rt;
}

async function duckdb(): Promise<{ duck: Duck; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lake-duck-'));
  const duck = await openDuck({ scratchDir: dir, threads: 1 });
  cleanups.push(() => {
    duck.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { duck, dir };
}

/** Puts the segments of `specs`; returns every record written (duplicates across epochs included). */
async function putSegments(store: ObjectStore, specs: SegmentSpec[]): Promise<Array<Record<string, any>>> {
  const records: Array<Record<string, any>> = [];
  const bodies = specs.flatMap((spec) => [...segments(spec)]);
  for (let i = 0; i < bodies.length; i += 16) {
    await Promise.all(bodies.slice(i, i + 16).map((s) => store.put(s.key, s.body)));
  }
  for (const s of bodies) for (const line of s.body.toString().split('\n').filter(Boolean)) records.push(JSON.parse(line));
  return records;
}

/**
 * A failover day: epoch 1 collects 00:00–14:00, epoch 2 takes over at 12:00 (two hours of
 * overlap, the same trades and snapshots) and runs to 23:00. One record every 30 s per stream.
 */
function failoverDay(stream: StreamId, firstEpoch = 1): SegmentSpec[] {
  const step = 30_000;
  const per = 20;
  const e1 = (14 * HOUR) / step;
  const startE2 = (12 * HOUR) / step;
  const e2 = (11 * HOUR) / step;
  const trades = stream.topic === 'trades';
  return [
    { stream, epoch: firstEpoch, firstSeq: 0, count: e1, perSegment: per, firstTs: T0, stepMs: step, firstId: 5_000_000, fills: trades },
    { stream, epoch: firstEpoch + 1, firstSeq: 0, count: e2, perSegment: per, firstTs: T0 + startE2 * step, stepMs: step, firstId: 5_000_000 + startE2, fills: trades },
  ];
}

async function parquetRows(duck: Duck, dir: string, store: ObjectStore, key: string, sql: string): Promise<Array<Record<string, any>>> {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.parquet`);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, (await store.get(key)).body);
  return duck.rows(sql.replaceAll('$P', `read_parquet(${sqlString(file)})`));
}

describe('compaction on MinIO', () => {
  it('a failover day with overlapping epochs compacts to one Parquet object per stream, every trade id once; query and export agree with the raw records', async () => {
    const target = await freshBucket(inject('minio'), 'lake');
    const rt = await runtimeOn(target);
    const store = rt.store.primary;
    const raw = await putSegments(store, [TRADES, BOOK, TICKER, CANDLES].flatMap((s) => failoverDay(s)));
    const rawTrades = raw.filter((r) => r.topic === 'trades');
    const distinctIds = new Set(rawTrades.map((r) => r.data.id));
    expect(rawTrades.length).toBeGreaterThan(distinctIds.size); // the overlap really repeats trades

    const result = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { ok: boolean; days: Array<Record<string, any>> };
    expect(result.ok).toBe(true);
    const parquetKeys = (await listKeys(store, 'parquet/')).sort();
    expect(parquetKeys).toEqual([TRADES, BOOK, TICKER, CANDLES].map((s) => parquetKey(ref(s), DAY)).sort());

    const { duck, dir } = await duckdb();
    const [t] = await parquetRows(duck, dir, store, parquetKey(ref(TRADES), DAY), 'SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id::BIGINT) AS lo, max(id::BIGINT) AS hi, count(*) FILTER (first_trade_id IS NULL) AS no_fills FROM $P');
    expect(t).toEqual({ n: distinctIds.size, ids: distinctIds.size, lo: 5_000_000, hi: 5_000_000 + distinctIds.size - 1, no_fills: 0 });
    // Exchange-time order, and each overlapping record kept once, from the first epoch.
    const [order] = await parquetRows(duck, dir, store, parquetKey(ref(TRADES), DAY), 'SELECT bool_and(ok) AS ordered FROM (SELECT ts >= lag(ts, 1, 0) OVER () AS ok FROM $P)');
    expect(order!.ordered).toBe(true);
    for (const s of [BOOK, TICKER, CANDLES]) {
      const distinctTs = new Set(raw.filter((r) => r.topic === s.topic).map((r) => r.ts)).size;
      const [c] = await parquetRows(duck, dir, store, parquetKey(ref(s), DAY), 'SELECT count(*) AS n FROM $P');
      expect(c!.n, s.topic).toBe(distinctTs);
    }
    const manifest = JSON.parse((await store.get(manifestKey(ref(TRADES), DAY))).body.toString());
    expect(manifest.rows).toBe(distinctIds.size);
    expect(manifest.dropped.duplicate_trade).toBe(rawTrades.length - distinctIds.size);
    expect(manifest.dropped.examples[0].kept.epoch).toBe(1);
    expect(manifest.dropped.examples[0].dropped.epoch).toBe(2);
    expect(manifest.epochs).toEqual([1, 2]);
    expect(manifest.trade_ids).toMatchObject({ min: 5_000_000, max: 5_000_000 + distinctIds.size - 1, distinct: distinctIds.size });
    expect(manifest.sources.length).toBe([...failoverDay(TRADES).flatMap((spec) => [...segments(spec)])].length);
    expect(manifest.sources.every((s: { etag: string }) => s.etag.length > 0)).toBe(true);
    const events = await readAuditEvents(store);
    expect(events.find((e) => e.event === 'compact.complete')?.payload).toMatchObject({ days: 4 });

    // A second run finds nothing to do.
    const again = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { planned: number };
    expect(again.planned).toBe(0);

    // Today's raw data (not compacted) is visible to query next to the Parquet day.
    const today = Date.parse(new Date().toISOString().slice(0, 10));
    const todays = await putSegments(store, [{ stream: TRADES, epoch: 7, firstSeq: 0, count: 40, perSegment: 20, firstTs: today + 1000, stepMs: 1000, firstId: 9_000_000 }]);
    const env = runtimeEnv(target, rt.paths.dataDir);
    const q = await runCli(['query', 'SELECT count(*) AS n, sum(price * amount) / sum(amount) AS vwap FROM trades', '--from', DAY, '--to', String(today + 86_400_000), '--format', 'json'], env);
    expect(q.code, q.stderr).toBe(0);
    const all = [...new Map([...rawTrades, ...todays].map((r) => [r.data.id, r])).values()];
    const vwap = all.reduce((n, r) => n + r.data.price * r.data.amount, 0) / all.reduce((n, r) => n + r.data.amount, 0);
    const [answer] = JSON.parse(q.stdout);
    expect(answer.n).toBe(all.length);
    expect(answer.vwap).toBeCloseTo(vwap, 6);
    expect(q.stderr).toMatch(/4 Parquet object\(s\), 2 raw segment\(s\)/);

    // export round-trips: the window, de-duplicated, in exchange-time order, in each format.
    const from = T0 + 11 * HOUR;
    const to = T0 + 15 * HOUR;
    const expected = [...new Map(rawTrades.filter((r) => r.ts >= from && r.ts < to).map((r) => [r.data.id, r])).values()].sort((a, b) => a.ts - b.ts);
    // csv through the command line; jsonl and parquet through the same functions in-process (each CLI run costs seconds).
    const scratch = mkdtempSync(path.join(dir, 'window-'));
    const inproc = await openDuck({ scratchDir: scratch, threads: 1 });
    cleanups.push(() => inproc.close());
    await loadWindow(inproc, store, scratch, { from, to }, [ref(TRADES)]);
    for (const format of ['csv', 'jsonl', 'parquet'] as const) {
      const out = path.join(dir, `window.${format}`);
      if (format === 'csv') {
        const e = await runCli(['export', '--stream', 'binance/trades/BTC-USDT', '--from', new Date(from).toISOString(), '--to', new Date(to).toISOString(), '--format', format, '--out', out], env);
        expect(e.code, e.stderr).toBe(0);
        expect(JSON.parse(e.stdout).rows).toBe(expected.length);
      } else {
        expect(await exportTable(inproc, ref(TRADES), format, out)).toBe(expected.length);
      }
      const reader = format === 'csv' ? `read_csv(${sqlString(out)})` : format === 'jsonl' ? `read_json(${sqlString(out)})` : `read_parquet(${sqlString(out)})`;
      const back = await duck.rows<{ id: string; ts: number; price: number }>(`SELECT id::VARCHAR AS id, ts::BIGINT AS ts, price FROM ${reader}`);
      expect(back.map((r) => r.id), format).toEqual(expected.map((r) => r.data.id));
      expect(back.map((r) => r.price)).toEqual(expected.map((r) => r.data.price));
    }
  });

  it('kill -9 at any step of a run, then a re-run: exactly one object per stream-day and no row lost', async () => {
    const target = await freshBucket(inject('minio'), 'lake-kill');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lake-kill-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const rt = await runtimeOn(target);
    const store = rt.store.primary;
    const raw = await putSegments(store, failoverDay(TRADES));
    const ids = new Set(raw.map((r) => r.data.id));
    // Two states a kill can leave: nothing uploaded yet (killed after writing locally), and the new
    // object uploaded without its manifest (killed after upload or after verifying).
    for (const step of ['written', 'uploaded']) {
      const env = { ...process.env, ...runtimeEnv(target, dataDir), BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'), BTC_TS_TEST_COMPACT_HOLD_AT: step };
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'compact', '--no-retention', ...(step === 'written' ? [] : ['--force'])], { env, stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      cleanups.push(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      const marker = path.join(dataDir, `compact-held-${step}`);
      const deadline = Date.now() + 60_000;
      while (!existsSync(marker) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(marker), `the run reached "${step}"`).toBe(true);
      expect(readFileSync(marker, 'utf8')).toBe(String(child.pid));
      child.kill('SIGKILL');
      await exited;
      rmSync(marker);
      if (step === 'uploaded') {
        // The object is there and its manifest is missing or stale: the next plan must redo the day.
        expect(await listKeys(store, 'parquet/')).toHaveLength(1);
      }
    }
    // The manifest stayed as the first kill left it (none): the plain re-run compacts the day again.
    const rerun = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { ok: boolean; days: Array<{ date: string; action: string; reason: string }> };
    expect(rerun.ok).toBe(true);
    expect(rerun.days.filter((d) => d.action === 'compacted').map((d) => `${d.date}:${d.reason}`)).toEqual([`${DAY}:new`]);
    expect(await listKeys(store, 'parquet/')).toEqual([parquetKey(ref(TRADES), DAY)]);
    const { duck, dir } = await duckdb();
    const [c] = await parquetRows(duck, dir, store, parquetKey(ref(TRADES), DAY), 'SELECT count(*) AS n, count(DISTINCT id) AS ids FROM $P');
    expect(c).toEqual({ n: ids.size, ids: ids.size });
  });

  it('a late segment (a sync after a long outage) recompacts its day; retention deletes only verified days, dry run first', async () => {
    const target = await freshBucket(inject('minio'), 'lake-late');
    const rt = await runtimeOn(target);
    const store = rt.store.primary;
    const day2 = '2026-11-21';
    const T1 = Date.parse(`${day2}T00:00:00Z`);
    const raw = await putSegments(store, [
      ...failoverDay(TRADES),
      { stream: TRADES, epoch: 5, firstSeq: 0, count: 100, perSegment: 20, firstTs: T1, stepMs: 60_000, firstId: 8_000_000 },
      { stream: TICKER, epoch: 5, firstSeq: 0, count: 100, perSegment: 20, firstTs: T1, stepMs: 60_000 },
    ]);
    const first = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { days: Array<{ stream: string; date: string; rows: number; action: string }> };
    expect(first.days.filter((d) => d.action === 'compacted').map((d) => `${d.stream}@${d.date}`).sort()).toEqual(['binance/ticker/ETH-USDT@2026-11-21', `binance/trades/BTC-USDT@${DAY}`, `binance/trades/BTC-USDT@${day2}`]);

    // Epoch 3 had collected 23:00–24:00 of DAY on the other PC and syncs only now, overlapping epoch 2's last minutes.
    const late = await putSegments(store, [{ stream: TRADES, epoch: 3, firstSeq: 0, count: 200, perSegment: 20, firstTs: T0 + 22.5 * HOUR, stepMs: 15_000, firstId: 7_000_000 }]);
    const second = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { days: Array<{ stream: string; date: string; reason: string; rows: number }> };
    expect(second.days.map((d) => `${d.stream}@${d.date}:${d.reason}`)).toEqual([`binance/trades/BTC-USDT@${DAY}:late_segment`]);
    const dayIds = new Set([...raw, ...late].filter((r) => r.ts < T1 && r.topic === 'trades').map((r) => r.data.id));
    expect(second.days[0]!.rows).toBe(dayIds.size);
    expect(await listKeys(store, 'parquet/trades/')).toHaveLength(2);

    // Tamper with day2's ticker Parquet object: that day is no longer verified, its raw segments must stay.
    await store.put(parquetKey(ref(TICKER), day2), Buffer.from('not the verified bytes'));
    const rawBefore = await listKeys(store, 'raw/');
    const tickerRaw = rawBefore.filter((k) => k.startsWith('raw/binance/ticker/'));
    const dry = await applyRetention({ store, now: Date.now(), rawDays: 7, dryRun: true });
    expect(await listKeys(store, 'raw/')).toEqual(rawBefore); // a dry run deletes nothing
    const applied = await applyRetention({ store, now: Date.now(), rawDays: 7, dryRun: false });
    expect(applied.deleted_objects).toBe(dry.deleted_objects);
    expect(applied.deleted_objects).toBe(rawBefore.length - tickerRaw.length);
    expect(await listKeys(store, 'raw/')).toEqual(tickerRaw);
    const ticker = applied.groups.find((g) => g.stream === 'binance/ticker/ETH-USDT')!;
    expect(ticker).toMatchObject({ deleted: 0, kept: tickerRaw.length });
    expect(ticker.kept_reason).toMatch(/differs from the verified one/);

    // The duty recompacts the changed day first, then its retention deletes those segments too, audited with counts.
    const run = (await rt.invoker.invoke('compact', {}, 'cli')) as { days: Array<{ stream: string; date: string; reason: string; action: string }>; retention: { deleted_objects: number } };
    expect(run.days.filter((d) => d.action === 'compacted').map((d) => `${d.stream}@${d.date}:${d.reason}`)).toEqual([`binance/ticker/ETH-USDT@${day2}:parquet_changed`]);
    expect(run.retention.deleted_objects).toBe(tickerRaw.length);
    expect(await listKeys(store, 'raw/')).toEqual([]);
    const events = await readAuditEvents(store);
    expect(events.filter((e) => e.event === 'retention.delete').map((e) => e.payload.objects)).toEqual([tickerRaw.length]);

    // A segment arriving after retention deleted the day's raw data: the recompaction carries the
    // deleted segments' records over from the verified Parquet object — none is lost.
    const before = JSON.parse((await store.get(manifestKey(ref(TRADES), DAY))).body.toString());
    const later = await putSegments(store, [{ stream: TRADES, epoch: 9, firstSeq: 0, count: 30, perSegment: 30, firstTs: T0 + 23.9 * HOUR, stepMs: 1000, firstId: 9_500_000 }]);
    const redo = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { days: Array<{ stream: string; date: string; reason: string; rows: number; dropped: number; action: string }> };
    expect(redo.days.filter((d) => d.action === 'compacted').map((d) => `${d.stream}@${d.date}:${d.reason}:${d.rows}:${d.dropped}`)).toEqual([`binance/trades/BTC-USDT@${DAY}:late_segment:${before.rows + later.length}:0`]);
    const after = JSON.parse((await store.get(manifestKey(ref(TRADES), DAY))).body.toString());
    expect(after.carried_rows).toBe(before.rows);
    expect(after.sources.length).toBe(before.sources.length + 1); // the deleted segments stay listed
  });

  it('capacity counts every prefix and stream-day with the compression ratio and a full date; an incident folder holds the window once', async () => {
    const target = await freshBucket(inject('minio'), 'lake-cap');
    const rt = await runtimeOn(target);
    const store = rt.store.primary;
    const raw = await putSegments(store, failoverDay(TICKER));
    const run = (await rt.invoker.invoke('compact', { no_retention: true }, 'cli')) as { capacity: { total_bytes: number } };
    const all = await listKeys(store, '');
    const report = await capacityReport(store, { now: Date.now(), capacityBytes: 1e9 });
    expect(report.total_objects).toBe(all.length);
    const rawBytes = (await Promise.all((await listKeys(store, 'raw/')).map((k) => store.head(k)))).reduce((n, o) => n + o!.size, 0);
    expect(report.prefixes.find((p) => p.prefix === 'raw/')).toEqual({ prefix: 'raw/', objects: (await listKeys(store, 'raw/')).length, bytes: rawBytes });
    const day = report.stream_days.find((d) => d.stream === 'binance/ticker/ETH-USDT' && d.date === DAY)!;
    const parquetBytes = (await store.head(parquetKey(ref(TICKER), DAY)))!.size;
    expect(day).toMatchObject({ raw_bytes: rawBytes, parquet_bytes: parquetBytes });
    expect(report.compression_ratio).toBeCloseTo(rawBytes / parquetBytes, 6);
    // The day is older than a week: no growth measured, no forecast; a day inside the week gives one.
    expect(report.growth_bytes_per_day).toBe(0);
    const soon = await capacityReport(store, { now: T0 + 3 * 86_400_000, capacityBytes: 1e9 });
    expect(soon.growth_bytes_per_day).toBe(parquetBytes);
    expect(soon.days_until_full).toBeCloseTo((1e9 - soon.total_bytes) / parquetBytes, 6);
    expect(run.capacity.total_bytes).toBeGreaterThan(0);
    expect(await rt.metrics.registry.metrics()).toMatch(/btc_ts_storage_used_bytes \d+/);

    const window = { from: T0 + 13 * HOUR, to: T0 + 13.5 * HOUR };
    const made = await makeIncident({ store, scratchRoot: path.join(rt.paths.dataDir, 'scratch'), id: 'flash-1', window, streams: [ref(TICKER)], host: 'pc-test', actor: 'tester', now: Date.now() });
    const inWindow = new Set(raw.filter((r) => r.ts >= window.from && r.ts < window.to).map((r) => r.ts)).size;
    expect(made.incident.streams).toEqual([{ stream: 'binance/ticker/ETH-USDT', rows: inWindow, artifact: 'incidents/flash-1/artifacts/binance-ticker-ETH-USDT.parquet' }]);
    expect((await listKeys(store, 'incidents/flash-1/')).sort()).toEqual(['incidents/flash-1/artifacts/binance-ticker-ETH-USDT.parquet', 'incidents/flash-1/incident.json', 'incidents/flash-1/replay_notes.md', 'incidents/flash-1/replay_params.json']);
    expect((await store.get('incidents/flash-1/replay_notes.md')).body.toString()).toMatch(/## Summary[\s\S]*## Findings[\s\S]*## Actions/);
    const { duck, dir } = await duckdb();
    const [a] = await parquetRows(duck, dir, store, 'incidents/flash-1/artifacts/binance-ticker-ETH-USDT.parquet', 'SELECT count(*) AS n, count(DISTINCT ts) AS ts FROM $P');
    expect(a).toEqual({ n: inWindow, ts: inWindow });
    await expect(makeIncident({ store, scratchRoot: path.join(rt.paths.dataDir, 'scratch'), id: 'flash-1', window, streams: [ref(TICKER)], host: 'pc-test', actor: 'tester', now: Date.now() })).rejects.toThrow(/exists/);

    // The dashboard's Data card: the last compaction of this runtime, the bucket size, the incidents.
    const model = await new DashboardData(rt).model();
    const html = String(await DataCard({ model }).toString());
    expect(html).toMatch(/data-testid="compact-last">[^<]*ok · 1 stream-day\(s\), \d+ rows/);
    expect(html).toContain(`${(run.capacity.total_bytes / 1e6).toFixed(1)} MB`);
    expect(html).toMatch(/data-testid="incidents">flash-1</);
  });

  it('a torn, blank or incomplete line fails its stream-day naming segment and line; the same trade id with other content is kept and counted', async () => {
    const target = await freshBucket(inject('minio'), 'lake-torn');
    const store = createS3Store({ endpoint: target.endpoint, bucket: target.bucket, accessKeyId: target.accessKey, secretAccessKey: target.secretKey });
    // Trades: epoch 2 repeats epoch 1's first 10 trades exactly; epoch 3 repeats trade 1000 at the same time with another price.
    const trades = await putSegments(store, [
      { stream: TRADES, epoch: 1, firstSeq: 0, count: 40, perSegment: 20, firstTs: T0, stepMs: 1000, firstId: 1000 },
      { stream: TRADES, epoch: 2, firstSeq: 0, count: 10, perSegment: 10, firstTs: T0, stepMs: 1000, firstId: 1000 },
    ]);
    const other = { ...trades[0]!, epoch: 3, seq: 0, data: { ...trades[0]!.data, price: trades[0]!.data.price + 1 } };
    await store.put('raw/binance/trades/BTC-USDT/dt=2026-11-20/000003-000000000000.jsonl', Buffer.from(JSON.stringify(other) + '\n'));
    // Three broken streams, each with its fault on line 3 of its second segment.
    const broken: Array<[StreamId, (line: string) => string, RegExp]> = [
      [TICKER, (l) => l.slice(0, 25), /line 3 of 20: not JSON/],
      [CANDLES, () => '', /line 3 of 20: empty line/],
      [BOOK, (l) => JSON.stringify({ ...JSON.parse(l), ts: undefined }), /line 3 of 20: no numeric ts/],
    ];
    const keys = new Map<string, string>();
    for (const [stream, breakLine] of broken) {
      const segs = [...segments({ stream, epoch: 1, firstSeq: 0, count: 40, perSegment: 20, firstTs: T0, stepMs: 1000 })];
      const lines = segs[1]!.body.toString().split('\n');
      lines[2] = breakLine(lines[2]!);
      segs[1]!.body = Buffer.from(lines.join('\n'));
      for (const seg of segs) await store.put(seg.key, seg.body);
      keys.set(stream.topic, segs[1]!.key);
    }
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lake-torn-'));
    cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
    const report = await compactAll({ store, scratchDir: scratch, now: () => Date.now(), graceMs: 0, threads: 1 });
    // The torn ticker segment also fails the next day: it might hold records past midnight.
    expect(report.days.filter((d) => d.action === 'failed').map((d) => `${d.stream}@${d.date}`).sort()).toEqual(
      [`binance/ohlcv/BTC-USDT@${DAY}`, `binance/orderbook/BTC-USDT@${DAY}`, `binance/ticker/ETH-USDT@${DAY}`, 'binance/ticker/ETH-USDT@2026-11-21'],
    );
    for (const [stream, , message] of broken) {
      for (const day of report.days.filter((d) => d.stream === streamName(ref(stream)) && d.action === 'failed')) {
        expect(day.error).toContain(`raw segment ${keys.get(stream.topic)} `);
        expect(day.error).toMatch(message);
      }
    }
    expect(await listKeys(store, 'parquet/')).toEqual([parquetKey(ref(TRADES), DAY)]);
    const manifest = JSON.parse((await store.get(manifestKey(ref(TRADES), DAY))).body.toString());
    expect(manifest).toMatchObject({ rows: 41, records_in: 51, dropped: { total: 10, duplicate_trade: 10 }, epochs: [1, 2, 3] });
    expect(manifest.trade_ids).toMatchObject({ distinct: 40, same_id_different_content: 1, min: 1000, max: 1039 });
    expect(manifest.dropped.examples[0]).toMatchObject({ id: '1000', kept: { epoch: 1, seq: 0 }, dropped: { epoch: 2, seq: 0 } });
    const { duck, dir } = await duckdb();
    const [c] = await parquetRows(duck, dir, store, parquetKey(ref(TRADES), DAY), `SELECT count(*) AS n, count(*) FILTER (id = '1000') AS twice, list(epoch::INTEGER ORDER BY epoch) FILTER (id = '1000') AS epochs FROM $P`);
    expect(c).toEqual({ n: 41, twice: 2, epochs: [1, 3] });
  });
});
