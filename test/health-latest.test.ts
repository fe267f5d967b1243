// test/health-latest.test.ts
// `runtime health`'s latest-CSV check: a candle CSV one timeframe behind raw is the normal moment between a tick's segment upload and its CSV write.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { inspectStreams } from '../runtime/health.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { spacingOfStreams } from '../runtime/sync/continuity.ts';
import { segmentBody } from './helpers/sync-fixtures.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const CANDLES = { exchange: 'binance', topic: 'ohlcv', symbol: 'BTC/USDT' };
const STREAMS = [{ exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'], timeframe: '1m' }];
const MINUTE = 60_000;

async function healthWithCsvAt(offsetFromLastMs: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-health-'));
  dirs.push(dir);
  const primary = createFsStore({ root: path.join(dir, 'nas') });
  const now = Date.UTC(2026, 10, 29, 12, 30);
  const first = now - 10 * MINUTE;
  const { key, body } = segmentBody(CANDLES, 1, 0, 10, first, MINUTE);
  await primary.put(key, body);
  const last = first + 9 * MINUTE;
  await primary.put('latest/binance/ohlcv/BTC-USDT.csv', `ts,symbol,closed\n${last + offsetFromLastMs},BTC/USDT,true\n`);
  const [health] = await inspectStreams({
    primary,
    cache: createFsStore({ root: path.join(dir, 'cache') }),
    streams: STREAMS as never,
    now,
    days: 1,
    maxAgeMs: 10 * MINUTE,
    toleranceMs: 6_000,
    timeGapMs: 5 * MINUTE,
    spacingMs: spacingOfStreams(STREAMS, '1m'),
  });
  return health!;
}

it('a candle CSV one timeframe behind raw passes; two behind, or one ahead, fails and says the limit', async () => {
  expect((await healthWithCsvAt(0)).latest_csv).toMatchObject({ ok: true, delta_ms: 0 });
  expect((await healthWithCsvAt(-MINUTE)).latest_csv).toMatchObject({ ok: true, delta_ms: MINUTE });
  const twoBehind = await healthWithCsvAt(-2 * MINUTE);
  expect(twoBehind.latest_csv).toMatchObject({ ok: false, delta_ms: 2 * MINUTE });
  expect(twoBehind.reasons.join()).toContain(`latest CSV ${2 * MINUTE} ms behind raw (limit ${6_000 + MINUTE} ms)`);
  const ahead = await healthWithCsvAt(MINUTE);
  expect(ahead.reasons.join()).toContain(`latest CSV ${MINUTE} ms ahead of raw (limit 6000 ms)`);
});
