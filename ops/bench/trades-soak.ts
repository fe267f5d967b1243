// ops/bench/trades-soak.ts
// Soak (issue 15): Binance, Kraken and OKX trades from the emulator with anomalies switched at random → real MinIO; every served trade stored once or inside a gap event.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuditEventName, AuditEvents } from '../../runtime/audit-events.ts';
import { streamName, streamStates } from '../../runtime/collector/stream-state.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { aggregateKey } from '../../runtime/emulator/binance.ts';
import type { Faults } from '../../runtime/emulator/faults.ts';
import { krakenPairOf } from '../../runtime/emulator/kraken.ts';
import { DEFAULT_SYMBOLS, marketIdOf, type SymbolSpec } from '../../runtime/emulator/market.ts';
import { okxInstIdOf } from '../../runtime/emulator/okx.ts';
import { startEmulator } from '../../runtime/emulator/server.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../../runtime/store/types.ts';
import { startMinio } from '../../test/helpers/minio.ts';
import { rawStreamPrefix } from '../../runtime/keys.ts';

const TICK_MS = 1_000;
const PHASE_MS = 20_000;
const SYMBOLS: SymbolSpec[] = [
  { ...DEFAULT_SYMBOLS[0]!, tradesPerSecond: 40, maxFills: 4 },
  { ...DEFAULT_SYMBOLS[1]!, tradesPerSecond: 15, maxFills: 3 },
  { ...DEFAULT_SYMBOLS[2]!, tradesPerSecond: 2, maxFills: 2 },
];
const EXCHANGES = ['binance', 'kraken', 'okx'] as const;
/** The emulator's market id per dialect (its served log's key). */
const MARKET_OF: Record<(typeof EXCHANGES)[number], (s: SymbolSpec) => string> = { binance: marketIdOf, kraken: krakenPairOf, okx: okxInstIdOf };

/** Seeded PRNG (mulberry32), so a run can be repeated. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One phase's anomalies, each on with probability ½. The two aggregate anomalies stay on for the
 * whole run: a switch is decided per trade id, and changing its ratio mid-run would make one id's
 * re-served answer differ from its first (a slow answer the collector timed out on is asked again).
 */
function randomFaults(random: () => number): Faults {
  const on = () => random() < 0.5;
  const faults: Faults = { duplicateAggId: { ratio: 0.03 }, duplicateFill: { ratio: 0.03 } };
  if (on()) faults.rateLimit = { retryAfterSeconds: 1, ratio: 0.1 };
  if (on()) faults.serverError = { status: 503, ratio: 0.1 };
  if (on()) faults.slow = { delayMs: 2_000 + Math.floor(random() * 10_000), ratio: 0.1 };
  if (on()) faults.malformed = { ratio: 0.05 };
  if (on()) faults.dropTrades = { ratio: 0.002, permanent: random() < 0.5 };
  if (on()) faults.shortHistory = { keepSeconds: 20 };
  if (on()) faults.ignoreSince = { ratio: 0.2 };
  if (on()) faults.coarseSince = {};
  return faults;
}

interface RawLine {
  ts: number;
  data: { id: string; first_trade_id?: number; last_trade_id?: number };
}

async function readRaw(store: ObjectStore, prefix: string): Promise<RawLine[]> {
  const lines: RawLine[] = [];
  for (const key of await listKeys(store, prefix)) {
    for (const line of (await store.get(key)).body.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as RawLine);
  }
  return lines;
}

export default async function tradesSoak(args: string[]) {
  const seconds = Number(args[0] ?? 600);
  const seed = Number(args[1] ?? 1);
  const random = prng(seed);
  const minio = await startMinio();
  const emulator = await startEmulator({ seed, symbols: SYMBOLS, recordServed: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-soak-'));
  try {
    const loaded = loadConfig({
      env: {
        BTC_TS_HOST: 'soak-collector',
        BTC_TS_MODE: 'PROD',
        BTC_TS_DATA_DIR: dataDir,
        BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
        BTC_TS_EXCHANGE_URL: emulator.url,
      },
      overrides: {
        collector: {
          tickSeconds: TICK_MS / 1000,
          streamTimeoutMs: 8_000,
          streams: EXCHANGES.map((exchange) => ({ exchange, topic: 'trades' as const, symbols: SYMBOLS.map((s) => s.symbol) })),
        },
      },
    });
    const s3 = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
    const runtime = await createRuntime(loaded, { log: silentLogger(), primary: s3 });
    Object.assign(runtime.lease, { holder: true, epoch: 1, leaderHost: 'soak-collector', since: Date.now() });
    // Every audit event, not only the last 200 the runtime keeps in memory.
    const events: Array<{ event: string; payload: Record<string, unknown> }> = [];
    const record = runtime.audit.record.bind(runtime.audit);
    runtime.audit.record = async <E extends AuditEventName>(event: E, payload: AuditEvents[E]) => {
      events.push({ event, payload });
      return record(event, payload);
    };

    let ticks = 0;
    let crashes = 0;
    const notOkRows = new Map<string, number>();
    const tick = async () => {
      const started = Date.now();
      await runtime.invoker.invoke('collect-tick', {}, 'cron').catch(() => crashes++);
      ticks++;
      for (const row of runtime.status.current().streams) {
        if (!row.ok && row.cause) notOkRows.set(row.cause, (notOkRows.get(row.cause) ?? 0) + 1);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, TICK_MS - (Date.now() - started))));
    };

    const phases: Array<{ at_s: number; switches: string[] }> = [];
    const started = Date.now();
    let phaseEnd = 0;
    while (Date.now() - started < seconds * 1000) {
      if (Date.now() >= phaseEnd) {
        const faults = randomFaults(random);
        emulator.faults.set(faults);
        phases.push({ at_s: Math.round((Date.now() - started) / 1000), switches: Object.keys(faults) });
        phaseEnd = Date.now() + PHASE_MS;
      }
      await tick();
    }

    // Anomalies off: let every stream catch up (back-fills finish or are declared unfillable).
    emulator.faults.clear();
    const states = streamStates(runtime.local);
    const drainStarted = Date.now();
    const caughtUp = () =>
      EXCHANGES.every((exchange) =>
        SYMBOLS.every((s) => {
          const state = states.get(streamName({ exchange, topic: 'trades', symbol: s.symbol }));
          return state?.cursor && state.failures === 0 && state.cursor.gaps.length === 0 && (state.cursor.last_id ?? 0) >= emulator.lastTradeId(s.symbol) - 10 * s.tradesPerSecond;
        }),
      );
    while (Date.now() - drainStarted < 120_000 && !caughtUp()) await tick();
    for (let i = 0; i < 3; i++) await tick();
    const drainedS = Math.round((Date.now() - drainStarted) / 1000);
    const notCaughtUp = EXCHANGES.flatMap((exchange) =>
      SYMBOLS.map((s) => {
        const state = states.get(streamName({ exchange, topic: 'trades', symbol: s.symbol }));
        return { stream: `${exchange}/${s.symbol}`, last_id: state?.cursor?.last_id ?? null, newest: emulator.lastTradeId(s.symbol), gaps: state?.cursor?.gaps.length ?? null, failures: state?.failures ?? null };
      }),
    ).filter((s) => s.last_id === null || s.last_id < s.newest - 10 * (SYMBOLS.find((x) => s.stream.endsWith(x.symbol))?.tradesPerSecond ?? 1) || s.gaps || s.failures);
    const finalStatus = runtime.status.current().streams.map((r) => ({ stream: `${r.exchange}/${r.symbol}`, ok: r.ok, cause: r.cause }));
    await runtime.shutdown();

    // Every record served: stored exactly once, or inside a gap event of its stream.
    const streams = [];
    for (const exchange of EXCHANGES) {
      for (const spec of SYMBOLS) {
        const served = emulator.served!.of(exchange, MARKET_OF[exchange](spec));
        const raw = await readRaw(s3, rawStreamPrefix(`${exchange}/trades/${spec.symbol.replace('/', '-')}`));
        const keyOf = (r: RawLine) =>
          exchange === 'binance' ? aggregateKey({ a: Number(r.data.id), f: r.data.first_trade_id!, l: r.data.last_trade_id! }) : r.data.id;
        const stored = new Map<string, number>();
        for (const r of raw) stored.set(keyOf(r), (stored.get(keyOf(r)) ?? 0) + 1);
        const mine = events.filter((e) => e.payload['exchange'] === exchange && e.payload['symbol'] === spec.symbol);
        const unfillable = mine.filter((e) => e.event === 'collector.gap.unfillable').map((e) => [Number(e.payload['from']), Number(e.payload['to'])] as const);
        const suspected = mine.filter((e) => e.event === 'collector.gap.suspected').map((e) => [Number(e.payload['from_ts']), Number(e.payload['to_ts'])] as const);
        // The stream starts at its first stored trade: what was served before (an answer whose fetch failed) is not owed.
        let firstStoredTs = Infinity;
        for (const r of raw) firstStoredTs = Math.min(firstStoredTs, r.ts);
        const counts = { served: served.size, before_start: 0, stored_once: 0, stored_more_than_once: 0, in_unfillable: 0, in_suspected: 0, unaccounted: 0, stored_not_served: 0 };
        const unaccountedSample: string[] = [];
        for (const [key, ts] of served) {
          const n = stored.get(key) ?? 0;
          if (n === 0 && ts < firstStoredTs) counts.before_start++;
          else if (n === 1) counts.stored_once++;
          else if (n > 1) counts.stored_more_than_once++;
          else {
            const id = Number(key.split(':')[0]);
            if (unfillable.some(([from, to]) => id >= from && id <= to)) counts.in_unfillable++;
            else if (suspected.some(([from, to]) => ts >= from && ts <= to)) counts.in_suspected++;
            else {
              counts.unaccounted++;
              if (unaccountedSample.length < 5) unaccountedSample.push(key);
            }
          }
        }
        for (const key of stored.keys()) if (!served.has(key)) counts.stored_not_served++;
        const eventCounts: Record<string, number> = {};
        for (const e of mine) {
          const name = e.event === 'collector.trade.conflict' ? `${e.event}:${String(e.payload['kind'])}` : e.event;
          eventCounts[name] = (eventCounts[name] ?? 0) + 1;
        }
        streams.push({ stream: `${exchange}/trades/${spec.symbol}`, ...counts, unaccounted_sample: unaccountedSample, events: eventCounts });
      }
    }
    const state = (await (await fetch(`${emulator.url}/admin/state`)).json()) as { injected: Record<string, number>; requests: Record<string, number> };
    const invariantHolds = streams.every((s) => s.unaccounted === 0 && s.stored_more_than_once === 0 && s.stored_not_served === 0);
    return {
      seconds,
      seed,
      ticks,
      crashes,
      drain_s: drainedS,
      not_caught_up: notCaughtUp,
      invariant_holds: invariantHolds,
      streams,
      not_ok_stream_ticks_by_cause: Object.fromEntries(notOkRows),
      final_status: finalStatus,
      emulator_injected: state.injected,
      emulator_requests: state.requests,
      phases,
      note: 'each phase 20 s; every anomaly switched on with probability ½ per phase; duplicateAggId/duplicateFill at 3 % throughout; emulator and runtime in this process, MinIO its own',
    };
  } finally {
    await emulator.stop();
    await minio.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
