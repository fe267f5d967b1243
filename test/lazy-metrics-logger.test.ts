// test/lazy-metrics-logger.test.ts
// A one-shot command's lazy metrics and logger (runtime/metrics.ts `lazy`, runtime/logger.ts `lazy`): nothing loaded until needed, and once read or written exactly what the eager ones give.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, LOG_FILE } from '../runtime/logger.ts';
import { MAX_PENDING_CALLS, Metrics } from '../runtime/metrics.ts';
import { createMasker } from '../runtime/secrets.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lazy-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function until(what: string, done: () => boolean, boundMs = 20_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The same calls a runtime makes, on any Metrics. */
function exercise(m: Metrics): void {
  m.observeRun('handoff', 'cli', 'ok', 87);
  m.observeRun('sync', 'cron', 'error', 1200);
  m.recordStream({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' }, { records: 5, okAtMs: 1_000 });
  m.setSyncBacklog(3, 4096);
  m.recordStorageSwitch('primary', 'secondary');
  m.noteLeaseEpoch(4);
  m.noteLeaseEpoch(6);
  m.noteShard(1, true, 9);
  m.recordSync({ ok: true, items: 2, bytes: 10, elapsedMs: 2500 });
  m.setOpenAlerts({ stream_stale: 1, sync_backlog: 0 });
  m.recordDashboardExport({ ok: true, sequence: 12, atMs: 5_000, rows: { trades: 40 } });
  m.recordCapacity({ total_bytes: 100, growth_bytes_per_day: 7, days_until_full: 30 });
  m.recordCapacity({ total_bytes: 120, growth_bytes_per_day: 7, days_until_full: null });
  m.mode.set({ mode: 'PROD' }, 1);
  m.primaryUp.set(1);
  m.httpRefused.inc({ reason: 'host' });
}

describe('lazy metrics (one-shot commands)', () => {
  it('keeps calls until the registry is read, then shows exactly what an eager Metrics shows', async () => {
    const now = () => 61_000;
    const eager = new Metrics({ defaults: false, now });
    const lazy = new Metrics({ defaults: false, now, lazy: true });
    expect(eager.loaded).toBe(true);
    exercise(eager);
    exercise(lazy);
    expect(lazy.loaded).toBe(false);
    const text = await lazy.registry.metrics();
    expect(lazy.loaded).toBe(true);
    expect(text).toBe(await eager.registry.metrics());
    expect(text).toMatch(/btc_ts_function_runs_total\{fn="handoff",source="cli",result="ok"\} 1/);
    expect(text).toMatch(/btc_ts_leader_changes_total 2/);
    expect(text).toMatch(/btc_ts_stream_last_ok_age_seconds\{exchange="binance",topic="trades",symbol="BTC\/USDT"\} 60/);
    // After loading, calls go straight to prom-client (and the field is prom-client's own metric).
    exercise(eager);
    exercise(lazy);
    expect(await lazy.registry.metrics()).toBe(await eager.registry.metrics());
    expect(lazy.fnRuns.constructor.name).toBe('Counter');
    expect(lazy.registry.contentType).toBe(eager.registry.contentType);
  });

  it('a kept call prom-client refuses (an unknown label) throws when replayed, and every other call still counts', async () => {
    const eager = new Metrics({ defaults: false });
    const lazy = new Metrics({ defaults: false, lazy: true });
    lazy.syncItems.inc(2);
    lazy.httpRefused.inc({ reason: 'host', nope: 'x' } as never);
    lazy.syncItems.inc(3);
    expect(() => eager.httpRefused.inc({ reason: 'host', nope: 'x' } as never)).toThrow(/nope/);
    eager.syncItems.inc(5);
    expect(() => lazy.registry).toThrow(/nope/);
    expect(await lazy.registry.metrics()).toBe(await eager.registry.metrics());
  });

  it(`loads prom-client by itself after ${MAX_PENDING_CALLS} kept calls, so memory stays bounded`, async () => {
    const eager = new Metrics({ defaults: false });
    const lazy = new Metrics({ defaults: false, lazy: true });
    for (let i = 0; i < MAX_PENDING_CALLS - 1; i++) lazy.syncItems.inc();
    expect(lazy.loaded).toBe(false);
    lazy.syncItems.inc();
    expect(lazy.loaded).toBe(true);
    eager.syncItems.inc(MAX_PENDING_CALLS);
    expect(await lazy.registry.metrics()).toBe(await eager.registry.metrics());
  });
});

describe('lazy logger (one-shot commands)', () => {
  const masker = createMasker({ BTC_TS_API_TOKEN: 'tok-9f3c6b1d-secret-value' });

  it('writes nothing below its level, and its first line at the level is the line the eager logger writes, masked', async () => {
    const lazyDir = tmp();
    const eagerDir = tmp();
    const options = { masker, level: 'warn', consoleFd: 2 as const, base: { host: 'h1', cli: true } };
    const lazy = createLogger({ ...options, logsDir: lazyDir, lazy: true });
    const eager = createLogger({ ...options, logsDir: eagerDir });
    // The folder is made at once either way (the handoff reads logs/ by that name).
    expect(existsSync(lazyDir)).toBe(true);
    expect(lazy.level).toBe('warn');
    expect(lazy.isLevelEnabled('info')).toBe(false);
    expect(lazy.isLevelEnabled('error')).toBe(true);
    expect(lazy.isLevelEnabled('nonsense')).toBe(eager.isLevelEnabled('nonsense'));
    lazy.info({ a: 1 }, 'below the level');
    lazy.debug('below the level');
    lazy.flush();
    expect(readdirSync(lazyDir)).toEqual([]);

    for (const log of [lazy, eager]) {
      log.info('still below');
      log.warn({ token: 'tok-9f3c6b1d-secret-value', n: 2 }, 'a warning');
      log.child({ fn: 'handoff' }).error('a child line');
    }
    const lines = (dir: string) => (existsSync(path.join(dir, LOG_FILE)) ? readFileSync(path.join(dir, LOG_FILE), 'utf8').trim().split('\n') : []);
    await until('both files to hold two lines', () => lines(lazyDir).length === 2 && lines(eagerDir).length === 2);
    const strip = (line: string) => ({ ...JSON.parse(line), time: undefined });
    expect(lines(lazyDir).map(strip)).toEqual(lines(eagerDir).map(strip));
    expect(lines(lazyDir)[0]).not.toContain('tok-9f3c6b1d-secret-value');
    expect(strip(lines(lazyDir)[1]!)).toMatchObject({ level: 50, fn: 'handoff', host: 'h1', cli: true, msg: 'a child line' });
  });

  it('an unknown level is refused at once, as the eager logger refuses it', () => {
    let refused = '';
    try {
      createLogger({ masker, level: 'loud' });
    } catch (err) {
      refused = (err as Error).message;
    }
    expect(refused).toMatch(/loud/);
    expect(() => createLogger({ masker, level: 'loud', lazy: true })).toThrow(refused);
  });

  it('a level set later applies from then on', async () => {
    const dir = tmp();
    const log = createLogger({ masker, level: 'warn', logsDir: dir, lazy: true });
    log.level = 'error';
    expect(log.level).toBe('error');
    log.warn('not written');
    log.error('written');
    await until('the error line', () => existsSync(path.join(dir, LOG_FILE)) && readFileSync(path.join(dir, LOG_FILE), 'utf8').includes('"msg":"written"'));
    expect(readFileSync(path.join(dir, LOG_FILE), 'utf8')).not.toContain('not written');
  });
});
