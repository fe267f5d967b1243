// test/dashboard-export.test.ts
// Dashboard export against a real MinIO: hand-computed datasets, checksums, racing sequences, pruning, upload failure, metrics.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import { createApp } from '../runtime/http/app.ts';
import { runDashboardExport, type ExportSummary } from '../runtime/dashboard-export/export.ts';
import { sha256Hex } from '../runtime/hash.ts';
import { commitManifest } from '../runtime/dashboard-export/manifest.ts';
import { computeQuality, writeQuality } from '../runtime/dashboard-export/quality.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys } from '../runtime/store/types.ts';
import { freePort } from './helpers/minio.ts';
import { dashboardWorld, getJson, putRaw, type DashboardWorld } from './helpers/dashboard.ts';

const D1 = Date.UTC(2026, 0, 1); // 2026-01-01T00:00Z
const H = 3_600_000;
const ticker = { exchange: 'emu', topic: 'ticker', symbol: 'BTC/USDT' };
const trades = { exchange: 'emu', topic: 'trades', symbol: 'BTC/USDT' };
const opts = { historyWeeks: 8 };

/** Ticker records in hour 00 with latencies 10,20,…,100 ms over two objects, plus two in hour 01 (5 and 7 ms). */
async function seedRaw(world: DashboardWorld): Promise<void> {
  const rec = (minute: number, latency: number) => ({ ts: D1 + minute * 60_000, ingest_ts: D1 + minute * 60_000 + latency });
  await putRaw(world.store, ticker, 1, 0, [rec(1, 10), rec(2, 20), rec(3, 30), rec(4, 40), rec(5, 50), 'not json {', '{"ts":"x","ingest_ts":1}']);
  await putRaw(world.store, ticker, 1, 5, [rec(6, 60), rec(7, 70), rec(8, 80), rec(9, 90), rec(10, 100), rec(61, 5), rec(62, 7)]);
  const trade = (id: string, at: number, t: Record<string, unknown>) => ({ ts: at, ingest_ts: at + 3, data: { id, timestamp: at, ...t } });
  await putRaw(world.store, trades, 1, 0, [
    trade('1', D1 + 1000, { price: 100, amount: 0.5, cost: 50, side: 'buy' }),
    trade('2', D1 + 2000, { price: 101, amount: 1.25, side: 'sell' }), // no cost: price × amount = 126.25
    trade('5', D1 + 3000, { price: 'x', amount: null }), // unusable: counted as skipped
  ]);
  // Epoch 2 overlaps epoch 1: trade 1 again (counted once) and a trade on the next day.
  await putRaw(world.store, trades, 2, 0, [
    trade('1', D1 + 1000, { price: 100, amount: 0.5, cost: 50, side: 'buy' }),
    trade('4', D1 + 86_400_000 + 5000, { price: 200, amount: 2, cost: 400, side: 'buy' }),
  ]);
}

async function seedState(world: DashboardWorld): Promise<void> {
  const base = 'state_archive/orb/USDJPY/conservative';
  const change = (param: string, from: number, to: number) => ({ param, from, to, delta: to - from, rel_change: (to - from) / Math.abs(from) });
  await world.store.put(`${base}/20260101T000000Z_diff.json`, JSON.stringify({ status: 'applied', reason: ['conditions_met'], diff: { updated: [change('ev.b1.expected_pips', 1, 1.5), change('slippage.USDJPY.ewma_pips', 0.2, 0.3)] }, anomalies: [], risk: {} }));
  await world.store.put(`${base}/20260101T060000Z_diff.json`, JSON.stringify({ status: 'blocked', reason: ['anomaly:max_delta_exceeded'], diff: { updated: [change('ev_gate_threshold', 0.1, 0.5)] }, anomalies: [], risk: {} }));
  await world.store.put(`${base}/20260102T000000Z_diff.json`, 'not json{');
  await world.store.put(`${base}/20260102T060000Z_diff.json`, JSON.stringify({ reason: [] })); // no status: skipped
  await world.store.put('state_archive/auto_adjust_override.json', JSON.stringify({ status: 'enabled' }));
  await world.store.put('state/orb/USDJPY/conservative/state.json', JSON.stringify({ updated_at: '2026-01-02T00:00:00Z', params: { 'ev.b1.expected_pips': 1.5, 'slippage.USDJPY.ewma_pips': 0.3, other: 5 }, extra: { anything: true } }));
}

describe('dashboard export', () => {
  let world: DashboardWorld;
  beforeAll(async () => {
    world = await dashboardWorld();
  });
  afterAll(() => world.dispose());

  it('computes every dataset from known raw and state objects, checksums equal the stored bytes, incremental re-run', async () => {
    const clock = manualClock(D1 + 2 * 86_400_000);
    const rt = await world.runtime('pc-a', clock);
    await seedRaw(world);
    await seedState(world);
    // The data-quality report of 2026-01-01 (ticker polled every 60 s: 12 of 1440 minutes seen, three missed runs).
    const quality = await computeQuality(world.store, { date: '2026-01-01', streams: [{ ...ticker, topic: 'ticker', everyMs: 60_000, timeframe: '1m' }], threshold: 0.9, now: clock.now(), host: 'pc-a' });
    await writeQuality(world.store, quality.report, quality.inventory);
    const first = await runDashboardExport(rt.context(), opts);
    expect(first.status, JSON.stringify(first.errors)).toBe('ok');
    expect(first.sequence).toBe(1);

    const latency = await getJson(world.store, 'dashboard/latency.json');
    const tickerRows = latency.rows.filter((r: any) => r.topic === 'ticker');
    expect(tickerRows).toEqual([
      { stream: 'emu/ticker/BTC-USDT', exchange: 'emu', topic: 'ticker', symbol: 'BTC-USDT', hour: '2026-01-01T00:00:00.000Z', count: 10, p50_ms: 50, p95_ms: 100, p99_ms: 100, max_ms: 100 },
      { stream: 'emu/ticker/BTC-USDT', exchange: 'emu', topic: 'ticker', symbol: 'BTC-USDT', hour: '2026-01-01T01:00:00.000Z', count: 2, p50_ms: 5, p95_ms: 7, p99_ms: 7, max_ms: 7 },
    ]);
    // Trades latency: 6 records (duplicates included: latency is about records received), all 3 ms.
    const tradeLatency = latency.rows.filter((r: any) => r.topic === 'trades');
    expect(tradeLatency.map((r: any) => [r.hour, r.count, r.p50_ms])).toEqual([
      ['2026-01-01T00:00:00.000Z', 4, 3],
      ['2026-01-02T00:00:00.000Z', 1, 3],
    ]);
    expect(latency.meta.skipped_lines).toBe(2);

    const turnover = await getJson(world.store, 'dashboard/turnover.json');
    expect(turnover.rows).toEqual([
      { stream: 'emu/trades/BTC-USDT', exchange: 'emu', symbol: 'BTC-USDT', date: '2026-01-01', trades: 2, volume: 1.75, notional: 176.25, buy_volume: 0.5, sell_volume: 1.25, vwap: 176.25 / 1.75, skipped: 1 },
      { stream: 'emu/trades/BTC-USDT', exchange: 'emu', symbol: 'BTC-USDT', date: '2026-01-02', trades: 1, volume: 2, notional: 400, buy_volume: 2, sell_volume: 0, vwap: 200, skipped: 0 },
    ]);

    const ev = await getJson(world.store, 'dashboard/ev_history.json');
    expect(ev.rows.map((r: any) => [r.source, r.ts, r.status, r.params])).toEqual([
      ['archive', '20260101T000000Z', 'applied', { 'ev.b1.expected_pips': { from: 1, to: 1.5 } }],
      ['archive', '20260101T060000Z', 'blocked', { ev_gate_threshold: { from: 0.1, to: 0.5 } }],
      ['state', '2026-01-02T00:00:00Z', 'current', { 'ev.b1.expected_pips': { from: null, to: 1.5 } }],
    ]);
    expect(ev.meta.skipped.map((s: any) => s.key)).toEqual([
      'state_archive/orb/USDJPY/conservative/20260102T000000Z_diff.json',
      'state_archive/orb/USDJPY/conservative/20260102T060000Z_diff.json',
    ]);
    const slippage = await getJson(world.store, 'dashboard/slippage.json');
    expect(slippage.rows.map((r: any) => [r.source, r.strategy, r.symbol, r.mode, r.params])).toEqual([
      ['archive', 'orb', 'USDJPY', 'conservative', { 'slippage.USDJPY.ewma_pips': { from: 0.2, to: 0.3 } }],
      ['state', 'orb', 'USDJPY', 'conservative', { 'slippage.USDJPY.ewma_pips': { from: null, to: 0.3 } }],
    ]);

    // coverage: one row per (day, stream) of the stored quality summaries.
    const coverage = await getJson(world.store, 'dashboard/coverage.json');
    expect(coverage.rows).toEqual([
      expect.objectContaining({ date: '2026-01-01', stream: 'emu/ticker/BTC-USDT', unit: 'ticks', expected: 1440, seen: 12, coverage_ratio: Math.round((12 / 1440) * 1e6) / 1e6, below_threshold: true, gaps_missed: 3 }),
    ]);

    const manifest = await getJson(world.store, 'dashboard/manifest.json');
    expect(manifest.sequence).toBe(1);
    expect(manifest.job_id).toBe(first.job_id);
    expect(manifest.datasets.map((d: any) => d.name)).toEqual(['coverage', 'ev_history', 'latency', 'slippage', 'turnover']);
    for (const d of manifest.datasets) {
      const got = await world.store.get(d.key);
      expect(d.checksum_sha256).toBe(sha256Hex(got.body));
      expect(d.bytes).toBe(got.body.length);
      expect(d.rows).toBe(JSON.parse(got.body.toString()).rows.length);
      // The history copy is byte-identical.
      expect(sha256Hex((await world.store.get(`dashboard/history/${first.job_id}/${d.name}.json`)).body)).toBe(d.checksum_sha256);
    }
    expect((await getJson(world.store, `dashboard/history/${first.job_id}/manifest.json`)).sequence).toBe(1);
    const heartbeat = await getJson(world.store, 'dashboard/heartbeat.json');
    expect(heartbeat.status).toBe('ok');
    expect(Object.values(heartbeat.datasets).every((d: any) => d.status === 'ok' && d.last_success_at === new Date(clock.now()).toISOString())).toBe(true);
    expect(existsSync(path.join(rt.dir, 'dashboard', 'manifest.json'))).toBe(true);
    const localLog = readFileSync(path.join(rt.dir, 'logs', 'automation_runs.log'), 'utf8').trim().split('\n');
    expect(JSON.parse(localLog[0]!)).toMatchObject({ sequence: 1, job_name: 'dashboard-export', status: 'ok' });
    expect(rt.audit.recentEvents().map((e) => e.event)).toContain('dashboard.export.complete');

    // One more object in hour 01 only: latency recomputes that one bucket (reading the new object and
    // its hour-01 neighbour); turnover reads nothing.
    clock.advance(H);
    await putRaw(world.store, ticker, 1, 12, [{ ts: D1 + 63 * 60_000, ingest_ts: D1 + 63 * 60_000 + 9 }]);
    const second = await runDashboardExport(rt.context(), { ...opts, datasets: ['latency', 'turnover'] });
    expect(second.sequence).toBe(2);
    const stats = Object.fromEntries(second.datasets.map((d) => [d.name, d.stats]));
    expect(stats.latency).toMatchObject({ full: false, objects_read: 2, buckets_recomputed: 1 });
    expect(stats.turnover).toMatchObject({ full: false, objects_read: 0, buckets_recomputed: 0 });
    const latency2 = await getJson(world.store, 'dashboard/latency.json');
    expect(latency2.rows.find((r: any) => r.topic === 'ticker' && r.hour === '2026-01-01T01:00:00.000Z')).toMatchObject({ count: 3, p50_ms: 7, max_ms: 9 });
    expect(latency2.rows.filter((r: any) => r.hour !== '2026-01-01T01:00:00.000Z' || r.topic !== 'ticker')).toEqual(latency.rows.filter((r: any) => r.hour !== '2026-01-01T01:00:00.000Z' || r.topic !== 'ticker'));
    // The manifest keeps the datasets this run did not touch, exactly as before.
    const manifest2 = await getJson(world.store, 'dashboard/manifest.json');
    expect(manifest2.datasets.find((d: any) => d.name === 'slippage')).toEqual(manifest.datasets.find((d: any) => d.name === 'slippage'));

    // A removed object un-counts its records: the hour is recomputed without it.
    await world.store.delete('raw/emu/ticker/BTC-USDT/dt=2026-01-01/000001-000000000012.jsonl');
    clock.advance(H);
    const third = await runDashboardExport(rt.context(), { ...opts, datasets: ['latency'] });
    expect(third.datasets[0]!.stats).toMatchObject({ buckets_recomputed: 1 });
    const latency3 = await getJson(world.store, 'dashboard/latency.json');
    expect(latency3.rows).toEqual(latency.rows);

    // An index that does not describe the stored dataset (garbage, or another exporter's bytes) means a full recompute, same rows.
    await world.store.put('dashboard/index/latency.json', '{"version":2,"garbage":');
    clock.advance(H);
    const fourth = await runDashboardExport(rt.context(), { ...opts, datasets: ['latency'] });
    expect(fourth.datasets[0]!.stats).toMatchObject({ full: true, objects_read: 4 });
    expect((await getJson(world.store, 'dashboard/latency.json')).rows).toEqual(latency.rows);
    const index = await getJson(world.store, 'dashboard/index/latency.json');
    expect(index.dataset_sha256).toBe(sha256Hex((await world.store.get('dashboard/latency.json')).body));
    expect(Object.keys(index.streams).sort()).toEqual(['raw/emu/ticker/BTC-USDT/', 'raw/emu/trades/BTC-USDT/']);
  });
});

describe('dashboard export races, pruning, upload and metrics', () => {
  let world: DashboardWorld;
  beforeAll(async () => {
    world = await dashboardWorld();
    await seedRaw(world);
    await seedState(world);
  });
  afterAll(() => world.dispose());

  it('two exporters racing never share a sequence, and the final manifest matches the stored objects', async () => {
    const [a, b, c] = await Promise.all([world.runtime('race-a'), world.runtime('race-b'), world.runtime('race-c')]);
    const results = await Promise.all([a, b, c].map((rt) => runDashboardExport(rt.context(), opts)));
    expect(results.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(results.map((r) => r.sequence).sort()).toEqual([1, 2, 3]);
    expect(results.map((r) => r.automation_log!.sequence).sort()).toEqual([1, 2, 3]);
    const manifest = await getJson(world.store, 'dashboard/manifest.json');
    expect(manifest.sequence).toBe(3);
    for (const d of manifest.datasets) expect(sha256Hex((await world.store.get(d.key)).body)).toBe(d.checksum_sha256);
    const historySeqs = await Promise.all(results.map(async (r) => (await getJson(world.store, `dashboard/history/${r.job_id}/manifest.json`)).sequence));
    expect(historySeqs.sort()).toEqual([1, 2, 3]);
  });

  it('a commit that loses the race re-reads, rewrites its datasets and takes the next number', async () => {
    const entry = (name: 'latency' | 'turnover', body: string) => ({ name, key: `race/${name}.json`, rows: 0, bytes: body.length, checksum_sha256: sha256Hex(body), generated_at: 'x', job_id: 'x' });
    const meta = (jobId: string) => ({ jobId, host: 'h', now: () => Date.now() });
    const before = (await getJson(world.store, 'dashboard/manifest.json').catch(() => ({ sequence: 0 }))).sequence as number;
    let aWrites = 0;
    const a = await commitManifest(world.store, [entry('latency', 'A')], meta('job-a'), async () => {
      aWrites++;
      await world.store.put('race/latency.json', 'A');
      // B commits completely between A's read and A's swap, once.
      if (aWrites === 1) await commitManifest(world.store, [entry('latency', 'B')], meta('job-b'), async () => void (await world.store.put('race/latency.json', 'B')));
    });
    expect(aWrites).toBe(2);
    expect(a.sequence).toBe(before + 2);
    const manifest = await getJson(world.store, 'dashboard/manifest.json');
    expect(manifest).toMatchObject({ sequence: before + 2, job_id: 'job-a' });
    expect((await world.store.get('race/latency.json')).body.toString()).toBe('A');
    expect(manifest.datasets.find((d: any) => d.name === 'latency').checksum_sha256).toBe(sha256Hex('A'));
  });

  it('prunes a 9-week-old history entry, keeps a 7-week-old one, and logs every removed key', async () => {
    const now = Date.UTC(2026, 3, 1);
    const clock = manualClock(now - 9 * 7 * 86_400_000);
    const rt = await world.runtime('prune', clock);
    const old = await runDashboardExport(rt.context(), { ...opts, jobId: 'job-9-weeks-old', datasets: ['slippage', 'ev_history'] });
    clock.set(now - 7 * 7 * 86_400_000);
    const kept = await runDashboardExport(rt.context(), { ...opts, jobId: 'job-7-weeks-old', datasets: ['slippage'] });
    expect(old.pruned?.objects ?? 0).toBe(0);
    expect(kept.pruned?.objects ?? 0).toBe(0);
    clock.set(now);
    const oldKeys = await listKeys(world.store, 'dashboard/history/job-9-weeks-old/');
    expect(oldKeys.sort()).toEqual(['ev_history.json', 'manifest.json', 'slippage.json'].map((f) => `dashboard/history/job-9-weeks-old/${f}`));
    const current = await runDashboardExport(rt.context(), { ...opts, jobId: 'job-now', datasets: ['slippage'] });
    expect(current.pruned).toMatchObject({ jobs: ['job-9-weeks-old'], objects: 3 });
    expect(await listKeys(world.store, 'dashboard/history/job-9-weeks-old/')).toEqual([]);
    expect((await listKeys(world.store, 'dashboard/history/job-7-weeks-old/')).length).toBe(2);
    const logLines = (await world.store.get(current.pruned!.log_key!)).body.toString().trim().split('\n').map((l) => JSON.parse(l));
    expect(logLines.map((l) => l.key).sort()).toEqual(oldKeys.sort());
    expect(logLines[0]).toMatchObject({ job_id: 'job-9-weeks-old', reason: 'older_than_8_weeks', pruned_by: { job_id: 'job-now', host: 'prune' } });
    expect(current.pruned!.log_key).toBe('dashboard/archive_manifest/dt=2026-04-01/job-now.jsonl');
    expect(rt.audit.recentEvents().find((e) => e.event === 'dashboard.history.prune')?.payload).toMatchObject({ jobs: ['job-9-weeks-old'], objects: 3 });
  });

  it('the upload command\'s stderr reaches the caller masked: the command and every secret part of it', async () => {
    const rt = await world.runtime('upload-secret');
    const password = 'Hunt3r2-upl0ad-pw';
    // As with --upload-command: the runtime's masker has never seen this command.
    const uploadCommand = `UPLOAD_PASSWORD=${password} sh -c 'echo "rclone: login failed (pass $UPLOAD_PASSWORD)" >&2; echo "retry with token=$UPLOAD_PASSWORD" >&2; exit 4'`;
    const failed: ExportSummary = await runDashboardExport(rt.context(), { ...opts, jobId: 'upload-secret', uploadCommand });
    expect(failed).toMatchObject({ status: 'error', error_code: 'upload_failed', upload: { ran: true, ok: false, exit_code: 4 } });
    const stderr = (failed.upload as { stderr_tail: string }).stderr_tail;
    expect(stderr).toContain('rclone: login failed (pass ***)');
    expect(JSON.stringify(failed)).not.toContain(password);
    expect(JSON.stringify(rt.audit.recentEvents())).not.toContain(password);
  });

  it('a failing upload command gives upload_failed, and every artefact stays', async () => {
    const rt = await world.runtime('upload');
    const ok = await runDashboardExport(rt.context(), { ...opts, jobId: 'upload-ok', uploadCommand: 'ls "$BTC_TS_DASHBOARD_DIR" > "$BTC_TS_DASHBOARD_DIR/../uploaded.txt" && test "$BTC_TS_DASHBOARD_JOB_ID" = upload-ok' });
    expect(ok.status).toBe('ok');
    expect(ok.upload).toMatchObject({ ran: true, ok: true, exit_code: 0 });
    expect(readFileSync(path.join(rt.dir, 'uploaded.txt'), 'utf8').split('\n').filter(Boolean).sort()).toEqual(['coverage.json', 'ev_history.json', 'latency.json', 'manifest.json', 'slippage.json', 'turnover.json']);

    const failed: ExportSummary = await runDashboardExport(rt.context(), { ...opts, jobId: 'upload-fails', uploadCommand: 'echo "share unreachable" >&2; exit 3' });
    expect(failed).toMatchObject({ status: 'error', error_code: 'upload_failed', upload: { ran: true, ok: false, exit_code: 3 } });
    expect((failed.upload as { stderr_tail: string }).stderr_tail).toContain('share unreachable');
    const manifest = await getJson(world.store, 'dashboard/manifest.json');
    expect(manifest.job_id).toBe('upload-fails');
    for (const d of manifest.datasets) {
      expect(sha256Hex((await world.store.get(d.key)).body)).toBe(d.checksum_sha256);
      expect(existsSync(path.join(failed.local_dir as string, `${d.name}.json`))).toBe(true);
    }
    expect((await listKeys(world.store, 'dashboard/history/upload-fails/')).length).toBe(6);
    const heartbeat = await getJson(world.store, 'dashboard/heartbeat.json');
    expect(heartbeat).toMatchObject({ status: 'error', last_failure: { job_id: 'upload-fails', error_code: 'upload_failed' } });
    const entry = await getJson(world.store, `dashboard/automation_log/${String(failed.automation_log!.sequence).padStart(12, '0')}.json`);
    expect(entry).toMatchObject({ status: 'error', job_id: 'upload-fails', diagnostics: { error_code: 'upload_failed', upload_exit_code: 3 } });
    expect(rt.audit.recentEvents()[0]).toMatchObject({ event: 'dashboard.export.failed', payload: { error_code: 'upload_failed' } });
    // Re-using a job id is refused: its history must not be overwritten.
    await expect(runDashboardExport(rt.context(), { ...opts, jobId: 'upload-fails' })).rejects.toThrow(/already exported/);
  });

  it('an unreachable primary fails the run with a clear error, audited as dashboard.export.failed', async () => {
    const rt = await world.runtime('no-nas');
    const dead = createS3Store({ endpoint: `http://127.0.0.1:${await freePort()}`, bucket: world.bucket, accessKeyId: 'x', secretAccessKey: 'yyyyyyyy', maxAttempts: 1 });
    const ctx = { ...rt.context(), store: Object.assign(Object.create(rt.store), { primary: dead }) };
    await expect(runDashboardExport(ctx, opts)).rejects.toMatchObject({ code: 'Unavailable' });
    expect(rt.audit.recentEvents()[0]).toMatchObject({ event: 'dashboard.export.failed', payload: { error_code: 'primary_unavailable' } });
  });

  it('GET /metrics shows the export, per-stream records and last-ok age, and the sync backlog', async () => {
    const rt = await world.runtime('metrics');
    const app = createApp(rt);
    const result = await rt.invoker.invoke('dashboard-export', { datasets: ['slippage'] }, 'cli');
    expect(result).toMatchObject({ status: 'ok' });
    rt.metrics.recordStream({ exchange: 'emu', topic: 'ticker', symbol: 'BTC/USDT' }, { records: 5, okAtMs: rt.clock.now() - 2000 });
    // The backlog gauge is measured from the local cache when scraped: leave 7 objects, 4,096 bytes there.
    for (let i = 0; i < 7; i++) await rt.store.cache.put(`raw/emu/trades/ETH-USDT/dt=2026-01-01/000001-${String(i).padStart(12, '0')}.jsonl`, Buffer.alloc(i < 6 ? 512 : 1024, 'x'));
    await rt.status.update(rt.store, (doc) => {
      doc.streams = [{ exchange: 'emu', topic: 'trades', symbol: 'ETH/USDT', ok: true, cause: null, retries: 0, last_ok_ms: rt.clock.now() - 30_000, notes: [] }];
    });
    const text = await (await app.request('/metrics')).text();
    expect(text).toMatch(/btc_ts_dashboard_manifest_sequence \d+/);
    expect(text).toMatch(/btc_ts_function_runs_total\{fn="dashboard-export",source="cli",result="ok"\} 1/);
    expect(text).toContain('btc_ts_stream_records_total{exchange="emu",topic="ticker",symbol="BTC/USDT"} 5');
    const age = Number(/btc_ts_stream_last_ok_age_seconds\{exchange="emu",topic="ticker",symbol="BTC\/USDT"\} ([\d.]+)/.exec(text)?.[1]);
    expect(age).toBeGreaterThanOrEqual(2);
    expect(age).toBeLessThan(60);
    expect(Number(/btc_ts_stream_last_ok_age_seconds\{exchange="emu",topic="trades",symbol="ETH\/USDT"\} ([\d.]+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(30);
    expect(text).toContain('btc_ts_sync_backlog_objects 7');
    expect(text).toContain('btc_ts_sync_backlog_bytes 4096');
  });
});
