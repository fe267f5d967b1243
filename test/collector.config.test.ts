// test/collector.config.test.ts
// Bad streams fail at start and in whatif with a clear message; permanently lost trades become an unfillable gap on record.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExchangePool } from '../runtime/collector/exchanges.ts';
import { checkStreams } from '../runtime/collector/plan.ts';
import { streamName, streamStates } from '../runtime/collector/stream-state.ts';
import { loadConfig, type LoadedConfig } from '../runtime/config.ts';
import { createRuntime } from '../runtime/context.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { silentLogger } from '../runtime/logger.ts';
import { runPreflight } from '../runtime/preflight.ts';
import { listKeys } from '../runtime/store/types.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function configWith(emulator: Emulator, streams: unknown[], dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-cfg-'))): LoadedConfig {
  return loadConfig({
    env: { BTC_TS_HOST: 'cfg-test', BTC_TS_MODE: 'PROD', BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_EXCHANGE_URL: emulator.url },
    overrides: { collector: { tickSeconds: 1, streamTimeoutMs: 2_000, streams } },
  });
}

describe('collector stream validation', () => {
  let emulator: Emulator;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0 });
  });
  afterAll(async () => emulator?.stop());

  it('names an unknown exchange, an unsupported topic, a bad timeframe and an unknown symbol', async () => {
    const { config } = configWith(emulator, [
      { exchange: 'binanse', topic: 'ticker', symbols: ['BTC/USDT'] },
      { exchange: 'bitflyer', topic: 'ohlcv', symbols: ['BTC/JPY'] },
      { exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'], timeframe: '7m' },
      { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT', 'DOGE/XYZ'] },
    ]);
    const pool = new ExchangePool({ exchangeUrl: emulator.url, timeoutMs: 2_000 });
    const check = await checkStreams(config, pool, { loadMarkets: false });
    expect(check.errors.join('\n')).toMatch(/collector\.streams\[0\]: unknown exchange "binanse" \(did you mean .*binance/);
    expect(check.errors.join('\n')).toMatch(/collector\.streams\[1\]: exchange bitflyer does not support topic ohlcv/);
    expect(check.errors.join('\n')).toMatch(/collector\.streams\[2\]: exchange binance has no timeframe 7m/);
    // Symbols need the markets, loaded once from the emulator (bitflyer is unreachable offline: reported, not fatal).
    const { config: symbolsOnly } = configWith(emulator, [{ exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT', 'DOGE/XYZ'] }]);
    const full = await checkStreams(symbolsOnly, pool, { loadMarkets: true });
    expect(full.errors).toEqual(['collector.streams[0]: exchange binance has no symbol DOGE/XYZ']);
  });

  it('whatif fails the "collector streams" check with the reason', async () => {
    const loaded = configWith(emulator, [{ exchange: 'binance', topic: 'ticker', symbols: ['NOPE/USDT'] }]);
    const runtime = await createRuntime(loaded, { log: silentLogger() });
    const results = await runPreflight(runtime);
    const line = results.find((r) => r.check === 'collector streams');
    expect(line?.ok).toBe(false);
    expect(line?.detail).toMatch(/exchange binance has no symbol NOPE\/USDT/);
    await runtime.shutdown();
  });

  it('whatif warns (not fails) when no stream is configured and names the two ways on', async () => {
    const runtime = await createRuntime(configWith(emulator, []), { log: silentLogger() });
    try {
      const line = (await runPreflight(runtime)).find((r) => r.check === 'collector streams');
      expect(line).toMatchObject({ ok: true, warn: true });
      expect(line?.detail).toContain('no stream is configured: this runtime collects nothing');
      expect(line?.detail).toContain('npm start -- --demo');
      expect(line?.detail).toContain('collector: { streams: [ { exchange: binance, topic: trades, symbols: [BTC/USDT] } ] }');
    } finally {
      await runtime.shutdown();
    }
  });

  it('runtime start refuses a bad stream with exit code 2 and one clear line', { timeout: 90_000 }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-start-bad-'));
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, `collector:\n  exchangeUrl: ${emulator.url}\n  streams:\n    - { exchange: krakenn, topic: ticker, symbols: [BTC/USD] }\n`);
    const run = spawnSync(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'start', '--config', file, '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_S3_ENDPOINT: '' },
      encoding: 'utf8',
      timeout: 80_000,
    });
    expect(run.status, run.stderr + run.stdout).toBe(2);
    expect(run.stderr).toMatch(/runtime start: config error: collector\.streams\[0\]: unknown exchange "krakenn"/);
  });

  it('diag api reports the exchange (IPv4) and the primary with latencies', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-diag-'));
    const file = path.join(dir, 'app.yaml');
    writeFileSync(file, `collector:\n  exchangeUrl: ${emulator.url.replace('127.0.0.1', 'localhost')}\n  streams:\n    - { exchange: binance, topic: ticker, symbols: [BTC/USDT] }\n`);
    // Async: the emulator lives in this process and must keep answering while the command runs.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(ROOT, 'bin/runtime.mjs'), 'diag', 'api', '--config', file, '--json'],
        { cwd: ROOT, env: { ...process.env, BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_S3_ENDPOINT: '' }, timeout: 80_000 },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const report = JSON.parse(run.stdout) as { ok: boolean; probes: Array<{ target: string; ok: boolean; address: string; api_ms: number | null }> };
    expect(report.ok).toBe(true);
    const exchange = report.probes.find((p) => p.target === 'exchange binance')!;
    // localhost resolves to ::1 and 127.0.0.1 here; IPv4 is tried first.
    expect(exchange.address).toBe(`127.0.0.1:${emulator.port}`);
    expect(exchange.api_ms).toBeGreaterThan(0);
    expect(report.probes.find((p) => p.target.startsWith('primary'))?.ok).toBe(true);
  });

  it('records a permanently lost trade as an unfillable gap and stores every other id once', { timeout: 90_000 }, async () => {
    const loaded = configWith(emulator, [{ exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] }]);
    const runtime = await createRuntime(loaded, { log: silentLogger() });
    Object.assign(runtime.lease, { holder: true, epoch: 1, leaderHost: 'cfg-test', since: Date.now() });
    const tick = async () => {
      await runtime.invoker.invoke('collect-tick', {}, 'cron');
      await new Promise((r) => setTimeout(r, 1_000));
    };
    await tick();
    const firstId = emulator.lastTradeId('BTC/USDT');
    emulator.faults.set({ dropTrades: { ratio: 0.2, permanent: true }, endpoints: ['aggTrades'] });
    for (let i = 0; i < 3; i++) await tick();
    emulator.faults.clear();
    // Clean ticks until the lost ids are given up (GAP_MAX_ATTEMPTS back-fills, one per tick), at
    // least three, at most fifteen: the assertions below say what happened by then.
    const unfillable = () => runtime.audit.recentEvents(200).some((e) => e.event === 'collector.gap.unfillable');
    for (let i = 0; i < 15 && (i < 3 || !unfillable()); i++) await tick();
    const lastId = emulator.lastTradeId('BTC/USDT') - 20;

    const lost = new Set(emulator.faults.lost.get('BTCUSDT') ?? []);
    expect(lost.size).toBeGreaterThan(0);
    const events = runtime.audit.recentEvents(200);
    expect(events.some((e) => e.event === 'collector.gap.unfillable')).toBe(true);
    const state = streamStates(runtime.local).get(streamName({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' }))!;
    expect(state.stickyNotes.join('\n')).toMatch(/unfillable gap: ids \d+–\d+/);
    expect(runtime.status.current().streams[0]!.notes.join('\n')).toMatch(/unfillable gap/);

    const ids = new Map<number, number>();
    for (const key of await listKeys(runtime.store, 'raw/binance/trades/BTC-USDT/')) {
      for (const line of (await runtime.store.get(key)).body.toString().split('\n')) {
        if (line) ids.set(Number(JSON.parse(line).data.id), (ids.get(Number(JSON.parse(line).data.id)) ?? 0) + 1);
      }
    }
    for (let id = firstId; id <= lastId; id++) expect(ids.get(id) ?? 0, `id ${id}`).toBe(lost.has(id) ? 0 : 1);
    await runtime.shutdown();
  });
});
