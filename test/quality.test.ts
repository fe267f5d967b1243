// test/quality.test.ts
// `runtime quality` on a planted demo day: coverage per stream, every gap kind in the inventory, exit codes, the data_quality_failure webhook.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../runtime/audit.ts';
import { manualClock } from '../runtime/clock.ts';
import { silentLogger } from '../runtime/logger.ts';
import { createMasker } from '../runtime/secrets.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import type { ObjectStore } from '../runtime/store/types.ts';
import type { StreamId } from '../runtime/streams.ts';
import { runCli } from './helpers/run-cli.ts';
import { rawSegmentKey } from '../runtime/keys.ts';
import { recordAny } from './helpers/audit-any.ts';

const DAY = '2026-01-05';
const D0 = Date.parse(`${DAY}T00:00:00Z`);
const MIN = 60_000;
const at = (hh: number, mm: number) => D0 + hh * 3_600_000 + mm * MIN;
const TOKEN = 'quality-hook-token-7f3a9c21';

const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-quality-'));
const nasDir = path.join(dir, 'data', 'nas');
const configFile = path.join(dir, 'app.yaml');
let store: ObjectStore;
let server: Server;
let slackServer: Server;
let received: Array<{ url: string; body: any }> = [];
const receivedSlack: any[] = [];
let hookUrl = '';
let slackUrl = '';

/** Records of one stream as one segment per hour (epoch 1, gap-free seq), the layout the collector ships. */
async function plant(id: StreamId, items: Array<{ ts: number; ingest_ts: number; data: unknown }>): Promise<void> {
  let seq = 1;
  const byHour = new Map<number, typeof items>();
  for (const it of items) byHour.set(Math.floor(it.ts / 3_600_000), [...(byHour.get(Math.floor(it.ts / 3_600_000)) ?? []), it]);
  for (const hourItems of byHour.values()) {
    const first = seq;
    const body = hourItems.map((it) => JSON.stringify({ ...id, ts: it.ts, ingest_ts: it.ingest_ts, epoch: 1, seq: seq++, data: it.data })).join('\n') + '\n';
    await store.put(rawSegmentKey(id, 1, first, hourItems[0]!.ts), body);
  }
}

const minutes = (skip: (m: number) => boolean) => Array.from({ length: 1440 }, (_, m) => m).filter((m) => !skip(m));
const inRange = (m: number, from: number, to: number) => m >= from && m < to;

beforeAll(async () => {
  store = createFsStore({ root: nasDir });
  // A second receiver, configured as Slack-compatible by host:port (alerts.formats): it gets one line of text.
  slackServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      receivedSlack.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => slackServer.listen(0, '127.0.0.1', r));
  const slackPort = (slackServer.address() as { port: number }).port;
  slackUrl = `http://127.0.0.1:${slackPort}/services/${TOKEN}`;
  writeFileSync(
    configFile,
    [
      'alerts:',
      '  formats:',
      `    "127.0.0.1:${slackPort}": slack`,
      'collector:',
      '  streams:',
      '    - { exchange: binance, topic: ticker, symbols: [BTC/USDT], every: 60 }',
      '    - { exchange: binance, topic: ohlcv, symbols: [BTC/USDT], timeframe: 1m }',
      '    - { exchange: binance, topic: trades, symbols: [BTC/USDT] }',
      '',
    ].join('\n'),
  );
  // Ticker polled every minute: 10:00–10:30 missed, 14:00–14:05 the exchange had none, 16:00 suspected (data whole).
  await plant(
    { exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT' },
    minutes((m) => inRange(m, 600, 630) || inRange(m, 840, 845)).map((m) => ({ ts: D0 + m * MIN + 100, ingest_ts: D0 + m * MIN + 400, data: { last: 40_000 + m } })),
  );
  // Candles: 03:00–03:10 missed, 05:00–05:20 the exchange had none.
  await plant(
    { exchange: 'binance', topic: 'ohlcv', symbol: 'BTC/USDT' },
    minutes((m) => inRange(m, 180, 190) || inRange(m, 300, 320)).map((m) => ({ ts: D0 + m * MIN, ingest_ts: D0 + (m + 1) * MIN + 300, data: { open: 1, high: 1, low: 1, close: 1, volume: 1, timeframe: '1m' } })),
  );
  // Trades 1..2000, one every 40 s: 500–509 unfillable, 800–804 detected and never filled (suspected), 900–902 missed.
  const hole = (id: number) => (id >= 500 && id <= 509) || (id >= 800 && id <= 804) || (id >= 900 && id <= 902);
  await plant(
    { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' },
    Array.from({ length: 2000 }, (_, i) => i + 1)
      .filter((id) => !hole(id))
      .map((id) => ({ ts: D0 + id * 40_000, ingest_ts: D0 + id * 40_000 + 200, data: { id: String(id), price: 1, amount: 1, cost: 1, side: 'buy' } })),
  );
  // The gap facts, through the project's audit writer, shipped to the bucket as the runtime ships them.
  const clock = manualClock(at(10, 40));
  const audit = new AuditLog({ walDir: path.join(dir, 'wal'), host: 'pc1', actor: 'test', site: 't', clock, masker: createMasker({}), log: silentLogger() });
  await audit.open();
  await recordAny(audit, 'collector.gap.detected', { exchange: 'binance', symbol: 'BTC/USDT', from: 500, to: 509, count: 10 });
  await recordAny(audit, 'collector.gap.unfillable', { exchange: 'binance', symbol: 'BTC/USDT', from: 500, to: 509, count: 10, attempts: 5 });
  await recordAny(audit, 'collector.gap.detected', { exchange: 'binance', symbol: 'BTC/USDT', from: 800, to: 804, count: 5 });
  // The collector's own candle-gap event (runtime/collector/topics.ts): no topic, reason no_candles, to_ts = last open time.
  await recordAny(audit, 'collector.gap.detected', { exchange: 'binance', symbol: 'BTC/USDT', timeframe: '1m', reason: 'no_candles', from_ts: at(5, 0), to_ts: at(5, 19), count: 20 });
  // Accepted by name as well.
  await recordAny(audit, 'collector.gap.exchange_had_none', { exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT', from_ts: at(20, 0), to_ts: at(20, 0) });
  await recordAny(audit, 'collector.gap.detected', { exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT', kind: 'exchange_had_none', from_ts: at(14, 0), to_ts: at(14, 5) - 1 });
  await recordAny(audit, 'collector.gap.suspected', { stream: 'binance/ticker/BTC-USDT', from_ts: at(16, 0), to_ts: at(16, 1), reason: 'clock_jump' });
  await audit.ship(store);

  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks/${TOKEN}`;
});

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await new Promise((r) => slackServer?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({
  BTC_TS_CONFIG: configFile,
  BTC_TS_DATA_DIR: path.join(dir, 'data'),
  BTC_TS_LOGS_DIR: path.join(dir, 'logs'),
  BTC_TS_HOST: 'pc1',
  SIGNAL_WEBHOOK_URLS: `${hookUrl},${slackUrl}`,
});

describe('runtime quality', { timeout: 120_000 }, () => {
  it('reports coverage and every gap kind of a planted day; exit 1 under the threshold with the webhook, 0 above it', async () => {
    const jsonOut = path.join(dir, 'quality.json');
    const failed = await runCli(['quality', '--date', DAY, '--coverage-threshold', '0.99', '--json-out', jsonOut], env());
    expect(failed.code, failed.stderr).toBe(1);
    const report = JSON.parse(failed.stdout);
    expect(JSON.parse(readFileSync(jsonOut, 'utf8'))).toEqual(report);
    const byStream = Object.fromEntries(report.streams.map((s: any) => [s.stream, s]));

    // Ticker: 1440 minutes less 5 the exchange had none = 1435 expected; 30 missed.
    expect(byStream['binance/ticker/BTC-USDT']).toMatchObject({ unit: 'ticks', expected: 1435, seen: 1405, records: 1405, below_threshold: true });
    expect(byStream['binance/ticker/BTC-USDT'].coverage_ratio).toBeCloseTo(1405 / 1435, 6);
    expect(byStream['binance/ticker/BTC-USDT'].gaps).toEqual({ missed: 1, unfillable: 0, exchange_had_none: 2, suspected: 1 });
    // Candles: 1440 less 20 the exchange had none; 10 missed → 1410/1420 ≈ 0.993, above 0.99.
    expect(byStream['binance/ohlcv/BTC-USDT']).toMatchObject({ unit: 'candles', expected: 1420, seen: 1410, below_threshold: false });
    expect(byStream['binance/ohlcv/BTC-USDT'].gaps).toEqual({ missed: 1, unfillable: 0, exchange_had_none: 1, suspected: 0 });
    // Trades: ids 1..2000 expected, 18 missing in three holes of three kinds (1982/2000 = 0.991).
    expect(byStream['binance/trades/BTC-USDT']).toMatchObject({ unit: 'trade_ids', expected: 2000, seen: 1982, below_threshold: false });
    expect(byStream['binance/trades/BTC-USDT'].gaps).toEqual({ missed: 1, unfillable: 1, exchange_had_none: 0, suspected: 1 });
    expect(report).toMatchObject({ status: 'below_threshold', below: ['binance/ticker/BTC-USDT'], coverage_threshold: 0.99, alert: { status: 'sent' } });

    // Stored under the quoted layout; the CSV holds one row per gap with its kind and range.
    const summary = JSON.parse((await store.get(`quality/dt=${DAY}/summary.json`)).body.toString('utf8'));
    expect(summary).toMatchObject({ date: DAY, status: 'below_threshold', gaps_total: { missed: 3, unfillable: 1, exchange_had_none: 3, suspected: 2 } });
    const csv = (await store.get(`quality/dt=${DAY}/gap_inventory.csv`)).body.toString('utf8').trim().split('\n');
    expect(csv[0]).toBe('stream,kind,from,to,from_id,to_id,missing,source');
    expect(csv).toContain('binance/ticker/BTC-USDT,missed,2026-01-05T10:00:00.000Z,2026-01-05T10:30:00.000Z,,,30,data');
    expect(csv).toContain('binance/ticker/BTC-USDT,exchange_had_none,2026-01-05T14:00:00.000Z,2026-01-05T14:05:00.000Z,,,5,collector.gap.detected');
    expect(csv).toContain('binance/ohlcv/BTC-USDT,missed,2026-01-05T03:00:00.000Z,2026-01-05T03:10:00.000Z,,,10,data');
    expect(csv).toContain('binance/ohlcv/BTC-USDT,exchange_had_none,2026-01-05T05:00:00.000Z,2026-01-05T05:20:00.000Z,,,20,collector.gap.detected');
    // An exchange_had_none window over data that is whole is listed as it is.
    expect(csv).toContain('binance/ticker/BTC-USDT,exchange_had_none,2026-01-05T20:00:00.000Z,2026-01-05T20:00:00.000Z,,,,collector.gap.exchange_had_none');
    expect(csv).toContain(`binance/trades/BTC-USDT,unfillable,${new Date(D0 + 499 * 40_000).toISOString()},${new Date(D0 + 510 * 40_000).toISOString()},500,509,10,collector.gap.unfillable`);
    expect(csv).toContain(`binance/trades/BTC-USDT,suspected,${new Date(D0 + 799 * 40_000).toISOString()},${new Date(D0 + 805 * 40_000).toISOString()},800,804,5,collector.gap.detected`);
    expect(csv).toContain(`binance/trades/BTC-USDT,missed,${new Date(D0 + 899 * 40_000).toISOString()},${new Date(D0 + 903 * 40_000).toISOString()},900,902,3,data`);
    expect(csv.some((l) => l.startsWith('binance/ticker/BTC-USDT,suspected,2026-01-05T16:00:00.000Z'))).toBe(true);
    expect(csv).toHaveLength(1 + 9);

    // data_quality_failure reached the receiver once; the token in its path is in no output or log.
    expect(received).toHaveLength(1);
    expect(received[0]!.url).toBe(`/hooks/${TOKEN}`);
    expect(received[0]!.body).toMatchObject({ signal_id: 'data_quality_failure', date: DAY, below: [{ stream: 'binance/ticker/BTC-USDT' }], summary_key: `quality/dt=${DAY}/summary.json` });
    expect(receivedSlack).toHaveLength(1);
    expect(Object.keys(receivedSlack[0])).toEqual(['text']);
    expect(receivedSlack[0].text).toMatch(/^\[data_quality_failure\] btc-ts .* 2026-01-05: coverage below 0\.99 for binance\/ticker\/BTC-USDT 0\.979094/);
    const alertsLog = readFileSync(path.join(dir, 'logs', 'state_alerts.log'), 'utf8');
    expect(alertsLog).toMatch(/signal_id=data_quality_failure date=2026-01-05 status=sent url=http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8}/);
    // runtime.log exists only when the command logged at its level (warn) or above.
    const runtimeLog = path.join(dir, 'logs', 'runtime.log');
    for (const text of [failed.stdout, failed.stderr, alertsLog, existsSync(runtimeLog) ? readFileSync(runtimeLog, 'utf8') : '']) expect(text).not.toContain(TOKEN);

    // Above the threshold: exit 0, no webhook.
    const ok = await runCli(['quality', '--date', DAY, '--coverage-threshold', '0.97'], env());
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'ok', below: [], alert: { status: 'not_triggered' } });
    expect(received).toHaveLength(1);

    // Usage errors: exit 2.
    expect((await runCli(['quality', '--date', '2026-02-30'], env())).code).toBe(2);
    expect((await runCli(['quality', '--coverage-threshold', '1.5'], env())).code).toBe(2);
  });
});
