// test/collector.faults.test.ts
// Collection from the emulator into a real MinIO with faults on and off (each fault held for its seconds, each clean spell until every stream recovered): no crash, every trade id exactly once, causes match.

import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootstrapBucket } from '../infra/minio/bootstrap.ts';
import { streamStates, streamName } from '../runtime/collector/stream-state.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import type { Faults } from '../runtime/emulator/faults.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { silentLogger } from '../runtime/logger.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';

const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];
const TICK_MS = 1_000;

/**
 * The fault timeline: each phase's faults and the status cause it must produce. A fault phase lasts
 * its `seconds`; a clean phase (no faults) ends as soon as every stream has recovered (at most its
 * `seconds`), so the next fault meets healthy streams without waiting out a fixed spell.
 */
const PHASES: Array<{ name: string; seconds: number; faults: Faults | null; cause: string | null }> = [
  { name: 'clean', seconds: 6, faults: null, cause: null },
  { name: '429', seconds: 8, faults: { rateLimit: { retryAfterSeconds: 2, ratio: 1 } }, cause: 'rate_limit' },
  { name: 'clean', seconds: 7, faults: null, cause: null },
  { name: '5xx', seconds: 7, faults: { serverError: { status: 503, ratio: 1 } }, cause: 'exchange' },
  { name: 'clean', seconds: 7, faults: null, cause: null },
  { name: 'stall 5 s', seconds: 7, faults: { slow: { delayMs: 5_000, ratio: 1 } }, cause: 'network' },
  { name: 'clean', seconds: 7, faults: null, cause: null },
  { name: 'malformed JSON', seconds: 6, faults: { malformed: { ratio: 1 } }, cause: 'bad_data' },
  { name: 'dropped trades', seconds: 5, faults: { dropTrades: { ratio: 0.05, permanent: false }, endpoints: ['aggTrades'] }, cause: null },
];

interface RawLine {
  exchange: string;
  topic: string;
  symbol: string;
  ts: number;
  epoch: number;
  seq: number;
  data: { id?: string };
}

async function readRaw(store: ObjectStore, prefix: string): Promise<RawLine[]> {
  const lines: RawLine[] = [];
  for (const key of await listKeys(store, prefix)) {
    const body = (await store.get(key)).body.toString('utf8');
    for (const line of body.split('\n')) if (line) lines.push(JSON.parse(line) as RawLine);
  }
  return lines;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('collector against the emulator and MinIO, faults on and off', () => {
  let emulator: Emulator;
  let runtime: Runtime;

  beforeAll(async () => {
    const minio = inject('minio');
    const bucket = `collector-faults-${Date.now().toString(36)}`;
    await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
    // A busy market so a page boundary and paging happen within the minute.
    emulator = await startEmulator({
      port: 0,
      seed: 7,
      symbols: DEFAULT_SYMBOLS.filter((s) => SYMBOLS.includes(s.symbol)).map((s, i) => ({ ...s, tradesPerSecond: i === 0 ? 40 : 15 })),
    });
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-collector-'));
    const loaded = loadConfig({
      env: {
        BTC_TS_HOST: 'collector-a',
        BTC_TS_MODE: 'PROD',
        BTC_TS_DATA_DIR: dataDir,
        BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
        BTC_TS_S3_ENDPOINT: minio.endpoint,
        BTC_TS_S3_BUCKET: bucket,
        BTC_TS_S3_ACCESS_KEY: minio.accessKey,
        BTC_TS_S3_SECRET_KEY: minio.secretKey,
        BTC_TS_EXCHANGE_URL: emulator.url,
      },
      overrides: {
        collector: {
          tickSeconds: TICK_MS / 1000,
          streamTimeoutMs: 2_500,
          diagAfterFailures: 3,
          streams: [
            { exchange: 'binance', topic: 'ticker', symbols: SYMBOLS },
            { exchange: 'binance', topic: 'trades', symbols: SYMBOLS },
            { exchange: 'binance', topic: 'orderbook', symbols: SYMBOLS, depth: 5 },
            { exchange: 'binance', topic: 'ohlcv', symbols: SYMBOLS, timeframe: '1m' },
          ],
        },
      },
    });
    runtime = await createRuntime(loaded, { log: silentLogger() });
    // The lease duty is not part of this test: this runtime holds epoch 3.
    Object.assign(runtime.lease, { holder: true, epoch: 3, leaderHost: 'collector-a', since: Date.now() });
  });

  afterAll(async () => {
    emulator?.faults.clear();
    await runtime?.shutdown();
    await emulator?.stop();
  });

  it('survives every fault, stores each trade id exactly once and reports the matching causes', { timeout: 180_000 }, async () => {
    const firstIds = Object.fromEntries(SYMBOLS.map((s) => [s, emulator.lastTradeId(s)]));
    const states = streamStates(runtime.local);
    const causesSeen = new Map<string, Set<string>>();
    const modesSeen = new Set<string>();
    let crashes = 0;
    const timeline: string[] = [];

    const tick = async () => {
      const started = Date.now();
      await runtime.invoker.invoke('collect-tick', {}, 'cron').catch(() => crashes++);
      await sleep(Math.max(0, TICK_MS - (Date.now() - started)));
    };

    for (const phase of PHASES) {
      if (phase.faults) emulator.faults.set(phase.faults);
      else emulator.faults.clear();
      const before = new Map([...states].map(([name, s]) => [name, s.failures]));
      const phaseStart = Date.now();
      let phaseEnd = phaseStart + phase.seconds * 1000;
      const seen = causesSeen.get(phase.name) ?? new Set<string>();
      causesSeen.set(phase.name, seen);
      const recovered = () => states.size === 8 && [...states.values()].every((s) => s.failures === 0 && !s.inFlight);
      while (Date.now() < phaseEnd) {
        await tick();
        if (!phase.faults && recovered()) phaseEnd = Date.now();
        modesSeen.add(runtime.mode.get());
        // A cause counts for this phase when a stream failed again during it.
        for (const [name, s] of states) if (s.failures > (before.get(name) ?? 0) && s.cause) seen.add(s.cause);
        for (const [name, s] of states) before.set(name, s.failures);
      }
      timeline.push(`${phase.name} ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
      if (phase.cause) expect([...seen], `causes during ${phase.name}`).toEqual([phase.cause]);
    }

    // Faults off: catch up to where the emulator is now, then let every stream recover.
    emulator.faults.clear();
    const lastIds = Object.fromEntries(SYMBOLS.map((s) => [s, emulator.lastTradeId(s)]));
    const deadline = Date.now() + 40_000;
    const caughtUp = () =>
      SYMBOLS.every((s) => (states.get(streamName({ exchange: 'binance', topic: 'trades', symbol: s }))?.cursor?.last_id ?? 0) >= lastIds[s]!);
    const healthy = () => [...states.values()].every((s) => s.failures === 0) && runtime.mode.get() === 'PROD';
    const recoveryStart = Date.now();
    while (Date.now() < deadline && !(caughtUp() && healthy())) await tick();
    console.log(`[collector faults] ${timeline.join(', ')}, recovery ${((Date.now() - recoveryStart) / 1000).toFixed(1)} s`);
    expect(crashes).toBe(0);
    expect(caughtUp()).toBe(true);
    expect(runtime.mode.get()).toBe('PROD');
    expect(modesSeen.has('DIAG')).toBe(true);

    const status = runtime.status.current();
    expect(status.streams).toHaveLength(8);
    expect(status.streams.every((r) => r.ok && r.cause === null && r.retries === 0 && r.last_ok_ms !== null)).toBe(true);

    for (const symbol of SYMBOLS) {
      const raw = await readRaw(runtime.store.primary, `raw/binance/trades/${symbol.replace('/', '-')}/`);
      const counts = new Map<number, number>();
      for (const r of raw) counts.set(Number(r.data.id), (counts.get(Number(r.data.id)) ?? 0) + 1);
      const repeated = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
      const missing: number[] = [];
      for (let id = firstIds[symbol]!; id <= lastIds[symbol]!; id++) if (!counts.has(id)) missing.push(id);
      expect(repeated, `${symbol} repeated ids`).toEqual([]);
      expect(missing.slice(0, 20), `${symbol} missing ids (of ${lastIds[symbol]! - firstIds[symbol]! + 1})`).toEqual([]);
      // seq is gap-free inside (stream, epoch).
      const seqs = raw.map((r) => r.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(seqs.map((_, i) => i));
      expect(new Set(raw.map((r) => r.epoch))).toEqual(new Set([3]));
      // Exactly the contract's record fields, nothing of the collector's own bookkeeping.
      expect(Object.keys(raw[0]!).sort()).toEqual(['data', 'epoch', 'exchange', 'ingest_ts', 'seq', 'symbol', 'topic', 'ts']);
    }

    // Dropped trades were seen as gaps and filled from history.
    const events = runtime.audit.recentEvents(200).map((e) => e.event);
    const detected = events.filter((e) => e === 'collector.gap.detected').length;
    expect(detected).toBeGreaterThan(0);
    expect(events.filter((e) => e === 'collector.gap.filled').length).toBe(detected);
    expect(events).toContain('collector.diag.enter');

    // Every topic reached MinIO: raw segments and a latest CSV with a header row.
    for (const topic of ['ticker', 'orderbook', 'ohlcv']) {
      expect((await listKeys(runtime.store.primary, `raw/binance/${topic}/BTC-USDT/`)).length, topic).toBeGreaterThan(0);
    }
    const latest = (await runtime.store.primary.get('latest/binance/ticker/BTC-USDT.csv')).body.toString();
    expect(latest.split('\n')[0]).toMatch(/^ts,symbol,last,/);
  });
});
