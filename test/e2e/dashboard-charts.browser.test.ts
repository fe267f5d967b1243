// test/e2e/dashboard-charts.browser.test.ts
// The stream cards' charts in real Chromium on a --demo runtime: sparklines and the coverage strip drawn from the stored records and quality report.

import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoDate } from '../../runtime/clock.ts';
import { parseRawLines } from '../../runtime/dashboard-export/raw-objects.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { listAll } from '../../runtime/store/types.ts';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/chromium.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

/** Screenshots go outside the repository (the report names the file). */
const SHOTS = path.join(os.tmpdir(), 'btc-ts-screenshots');

let browser: Browser;
let rt: RuntimeProcess;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const [executablePath, runtime] = await Promise.all([ensureChromium(), spawnRuntime({ host: 'pc-charts', args: ['--demo'] })]);
  rt = runtime;
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}, 5 * 60_000);

afterAll(async () => {
  await browser?.close();
  await rt?.dispose();
});

/** Every record of one stream today, read from the runtime's embedded primary (<dataDir>/nas). */
async function storedRecords(prefix: string): Promise<Array<{ ts: number; ingest_ts: number; data: any }>> {
  const store = createFsStore({ root: path.join(rt.dataDir, 'nas') });
  const out: Array<{ ts: number; ingest_ts: number; data: any }> = [];
  for await (const info of listAll(store, `${prefix}dt=${isoDate(Date.now())}/`)) out.push(...parseRawLines((await store.get(info.key)).body).lines);
  return out;
}

describe('stream charts in Chromium', () => {
  it('draws records/min, lag and price from the stored records, the coverage strip from the quality report, and Records today', { timeout: 5 * 60_000 }, async () => {
    // Today's quality report (the daily duty's function, run now) once trades and tickers are stored, before the
    // page is first drawn: the strip re-reads summaries at most once a minute, so a page drawn first
    // would show the report only a minute after its first look.
    const stored = async (topic: string) => (await storedRecords(`raw/binance/${topic}/BTC-USDT/`)).length;
    await expect.poll(async () => Math.min(await stored('trades'), await stored('ticker')), { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);
    const today = isoDate(Date.now());
    const quality = await rt.post<{ ok: boolean; result: { streams: Array<{ stream: string; coverage_ratio: number; gaps: Record<string, number> }>; coverage_threshold: number } }>('/fn/data-quality', { date: today, coverage_threshold: 0.5 });
    expect(quality.status).toBe(200);
    const trades = quality.body.result.streams.find((s) => s.stream === 'binance/trades/BTC-USDT')!;
    const ticker = quality.body.result.streams.find((s) => s.stream === 'binance/ticker/BTC-USDT')!;

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${rt.url}/`);
    const card = page.locator('[data-testid="stream-card"]', { hasText: 'binance · ticker · BTC/USDT' });
    // Two minutes with ticks make a line (the demo ticks every 2 s).
    await expect.poll(async () => Number(await card.locator('[data-testid="chart-price"]').getAttribute('data-points')), { timeout: 150_000, interval: 2_000 }).toBeGreaterThanOrEqual(2);

    // The strip's last square is the report (a reload with a fresh page model; within a minute at the latest).
    const tradesCard = page.locator('[data-testid="stream-card"]', { hasText: 'binance · trades · BTC/USDT' });
    await expect
      .poll(async () => {
        await page.reload();
        return tradesCard.locator('[data-testid="coverage-strip"] rect').last().getAttribute('data-ratio');
      }, { timeout: 90_000, interval: 5_000 })
      .toBe(String(trades.coverage_ratio));
    const rects = tradesCard.locator('[data-testid="coverage-strip"] rect');
    expect(await rects.count()).toBe(7);
    expect(await rects.last().getAttribute('data-date')).toBe(today);
    const lost = (trades.gaps.missed ?? 0) + (trades.gaps.unfillable ?? 0);
    expect(await rects.last().getAttribute('data-tone')).toBe(trades.coverage_ratio < 0.5 ? 'bad' : lost > 0 ? 'warn' : 'ok');
    // The ticker judged against the whole UTC day since midnight is far below 0.5 on a demo started minutes ago: red.
    expect(ticker.coverage_ratio).toBeLessThan(0.5);
    expect(await card.locator('[data-testid="coverage-strip"] rect').last().getAttribute('data-tone')).toBe('bad');
    // Days without a report are grey.
    expect(await rects.first().getAttribute('data-tone')).toBe('none');

    // The price line is made of ticker prices that are in the store, and so is its range.
    const tickerRecords = await storedRecords('raw/binance/ticker/BTC-USDT/');
    const prices = new Set(tickerRecords.map((r) => String(r.data.last)));
    const price = card.locator('[data-testid="chart-price"]');
    for (const attr of ['data-last', 'data-min', 'data-max']) expect(prices).toContain(await price.getAttribute(attr));
    expect(await price.locator('path').getAttribute('d')).toMatch(/^M[\d.]+ [\d.]+L/);
    // Lag: every value drawn is one of the stored records' ingest_ts − ts.
    const lags = new Set(tickerRecords.map((r) => String(r.ingest_ts - r.ts)));
    const lag = card.locator('[data-testid="chart-lag"]');
    for (const attr of ['data-last', 'data-max']) expect(lags).toContain(await lag.getAttribute(attr));
    // Records per minute: the complete minutes drawn never exceed what the store holds for the stream.
    const records = card.locator('[data-testid="chart-records"]');
    expect(Number(await records.getAttribute('data-max'))).toBeGreaterThan(0);
    expect(Number(await records.getAttribute('data-max'))).toBeLessThanOrEqual(tickerRecords.length);

    // Every card has its charts and a count of today's records (never "—" while records are collected).
    const cards = page.locator('[data-testid="stream-card"]');
    expect(await cards.count()).toBe(8);
    for (let i = 0; i < 8; i++) {
      const c = cards.nth(i);
      expect(await c.locator('[data-testid="chart-records"] svg').count()).toBe(1);
      expect(await c.locator('[data-testid="chart-lag"] svg').count()).toBe(1);
      expect(await c.locator('dt:text-is("Records today") + dd').innerText()).toMatch(/^[1-9]\d*$/);
    }
    expect(await page.locator('[data-testid="chart-price"]').count()).toBe(2);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard-charts.png'), fullPage: true });
    await page.close();
  });
});
