// test/e2e/health-demo.test.ts
// `runtime health --dry-run` against a real `runtime start --demo`: ohlcv streams pass, the latest ohlcv CSV holds ten candles, a failure names its reason.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const OHLCV_CSV = 'latest/binance/ohlcv/BTC-USDT.csv';

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The file under the embedded primary (nas/) or, while a probe settles, the cache. */
function storedFile(rt: RuntimeProcess, key: string): string | undefined {
  return ['nas', 'cache'].map((root) => path.join(rt.dataDir, root, ...key.split('/'))).find((f) => existsSync(f));
}

interface HealthJson {
  streams: Array<{ stream: string; ok: boolean; reasons: string[]; latest_csv: { delta_ms: number | null; ok: boolean } | null }>;
}

describe('runtime health --dry-run on a demo runtime', () => {
  let rt: RuntimeProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    rt = await spawnRuntime({ host: 'pc-health', args: ['--demo'], env: { BTC_TS_S3_ENDPOINT: '' } });
    // The CLI reads the same embedded stores the runtime writes.
    env = { BTC_TS_HOST: 'pc-health', BTC_TS_DATA_DIR: rt.dataDir, BTC_TS_LOGS_DIR: path.join(rt.dataDir, 'cli-logs'), BTC_TS_S3_ENDPOINT: '', NO_COLOR: '1' };
  }, 60_000);
  afterAll(async () => {
    await rt?.dispose();
  });

  it('the latest ohlcv CSV keeps the last ten candles, the forming one (and one still settling) marked closed=false', async () => {
    // The first fetch has no cursor; the ones after it ask from the cursor, where the CSV used to shrink to one row.
    const ticks = async () => Number(/btc_ts_function_runs_total\{fn="collect-tick",source="cron",result="ok"\} (\d+)/.exec(await (await fetch(`${rt.url}/metrics`)).text())?.[1] ?? 0);
    await waitFor('three collect ticks', async () => ((await ticks()) >= 3 ? true : undefined));
    // The process metrics docs/http.md promises besides the runtime's own (runtime start asks for them).
    expect(await (await fetch(`${rt.url}/metrics`)).text()).toMatch(/^btc_ts_process_cpu_seconds_total \d/m);
    const rows = readFileSync(storedFile(rt, OHLCV_CSV)!, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('ts,open,high,low,close,volume,closed');
    expect(rows).toHaveLength(11);
    // Settled (stored) candles first, then the forming one and, within candleSettleSeconds of a
    // close, the candle that just closed: closed=false, not yet in raw.
    const flags = rows.slice(1).map((r) => r.split(',').at(-1));
    const open = flags.indexOf('false');
    expect(open, rows.join('\n')).toBeGreaterThanOrEqual(flags.length - 2);
    expect(flags.slice(0, open).every((f) => f === 'true') && flags.slice(open).every((f) => f === 'false'), rows.join('\n')).toBe(true);
    const ts = rows.slice(1).map((r) => Number(r.split(',')[0]));
    expect(ts.slice(1).map((t, i) => t - ts[i]!)).toEqual(Array(9).fill(60_000));
  }, 90_000);

  it('passes every stream, ohlcv included, with an ok column', async () => {
    await waitFor('an ohlcv CSV', () => storedFile(rt, OHLCV_CSV));
    const json = await runCli(['health', '--dry-run', '--json'], env);
    const health = JSON.parse(json.stdout) as HealthJson;
    const ohlcv = health.streams.filter((s) => s.stream.startsWith('binance/ohlcv/'));
    expect(ohlcv).toHaveLength(2);
    for (const s of ohlcv) expect(s, JSON.stringify(s)).toMatchObject({ ok: true, reasons: [], latest_csv: { delta_ms: 0, ok: true } });
    expect(json.code, json.stdout).toBe(0);

    const table = await runCli(['health', '--dry-run'], env);
    expect(table.code, table.stdout).toBe(0);
    expect(table.stdout).toMatch(/^ok\s+binance\/ohlcv\/BTC-USDT\s/m);
    expect(table.stdout).toMatch(/all 8 stream\(s\) ok/);
  }, 90_000);

  it('names the failing stream and why', async () => {
    // A latest CSV far behind its raw records: only that stream fails, with the reason on its row.
    const file = storedFile(rt, 'latest/binance/ticker/ETH-USDT.csv')!;
    const header = readFileSync(file, 'utf8').split('\n')[0]!;
    // Kept while the runtime is stopped, so its next tick cannot put the CSV right again.
    await rt.stop();
    writeFileSync(file, `${header}\n${Date.now() - 3_600_000}${',1'.repeat(header.split(',').length - 1)}\n`);
    const table = await runCli(['health', '--dry-run', '--max-age-s', '86400'], env);
    expect(table.code).toBe(1);
    const failing = table.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatch(/binance\/ticker\/ETH-USDT .*latest CSV \d+ ms behind raw \(limit \d+ ms\)/);
    expect(table.stdout).toMatch(/1 of 8 stream\(s\) FAIL/);
  }, 90_000);
});
