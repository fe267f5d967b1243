// test/e2e/dashboard.browser.test.ts
// The dashboard in real headless Chromium against real runtimes and a MinIO this test stops and restarts.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/chromium.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');
/** The page refreshes every 3 s and the probe runs every second here; 20 s is a generous bound for either to show. */
const SHOWS_WITHIN_MS = 20_000;

let minio: MinioServer;
let browser: Browser;
const runtimes: RuntimeProcess[] = [];

function runtimeEnv(): Record<string, string> {
  return {
    ...minio.env,
    BTC_TS_PROBE_SECONDS: '1',
    BTC_TS_S3_CONSOLE_URL: 'http://127.0.0.1:9001',
  };
}

async function functionNames(rt: RuntimeProcess): Promise<string[]> {
  const { functions } = await rt.get<{ functions: Array<{ name: string }> }>('/fn');
  return functions.map((f) => f.name);
}

const text = (page: Page, testid: string) => page.locator(`[data-testid="${testid}"]`).first().innerText();

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const [executablePath, server] = await Promise.all([ensureChromium(), startMinio({ bucket: 'btc-ts-dash' })]);
  minio = server;
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  runtimes.push(await spawnRuntime({ host: 'pc-collector', env: runtimeEnv(), args: ['--demo'] }));
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(runtimes.map((r) => r.dispose()));
  await minio?.dispose();
});

describe('dashboard in Chromium', () => {
  it('shows mode, leader and storage; primary down within a refresh; Retry sync after MinIO returns', async () => {
    const collector = runtimes[0]!;
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${collector.url}/`);
    expect(await text(page, 'mode-badge')).toMatch(/^\W*(DEBUG|PROD|DIAG)$/);
    expect(await text(page, 'self-host')).toBe('pc-collector');
    expect(await text(page, 'leader-epoch')).toMatch(/^\d+$/);
    await expect.poll(() => text(page, 'primary-state'), { timeout: SHOWS_WITHIN_MS }).toBe('primary up');
    expect(await page.locator('a', { hasText: 'raw/ in the MinIO console' }).getAttribute('href')).toBe('http://127.0.0.1:9001/browser/btc-ts-dash/raw/');

    const names = await functionNames(collector);
    if (names.includes('collect-tick')) {
      // With the collector (--demo) merged: four stream cards turn ok.
      await expect.poll(() => page.locator('[data-testid="stream-card"][data-ok="true"]').count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    } else {
      expect(await page.locator('#h-streams + p').innerText()).toContain('No stream has reported yet');
    }
    await shot(page, 'up');

    // The page must update in place: a full reload would drop this marker.
    await page.evaluate(() => ((window as unknown as { stillSamePage: boolean }).stillSamePage = true));
    await minio.stop();
    await expect.poll(() => text(page, 'primary-state'), { timeout: SHOWS_WITHIN_MS }).toBe('primary down (network)');
    expect(await text(page, 'secondary-state')).toBe('cache in use');
    // Status (and audit) now land in the local cache: the backlog is visible.
    await expect.poll(() => text(page, 'backlog'), { timeout: SHOWS_WITHIN_MS }).toMatch(/^[1-9]\d* objects/);
    expect(await page.evaluate(() => (window as unknown as { stillSamePage?: boolean }).stillSamePage)).toBe(true);
    expect(await page.locator('#refresh-state').innerText()).toBe('live');
    await shot(page, 'primary-down');

    await minio.restart();
    await expect.poll(() => text(page, 'primary-state'), { timeout: SHOWS_WITHIN_MS }).toBe('primary up');
    await page.locator('[data-testid="retry-sync"]').click();
    await expect.poll(() => page.locator('#action-message').innerText(), { timeout: SHOWS_WITHIN_MS }).not.toMatch(/^(|Working…)$/);
    if (names.includes('sync')) {
      // With sync merged: the backlog drains to nothing.
      await expect.poll(() => text(page, 'backlog'), { timeout: 60_000 }).toMatch(/^0 objects/);
    } else {
      expect(await page.locator('#action-message').innerText()).toContain('sync is not installed');
      await expect.poll(() => text(page, 'retry-outcome'), { timeout: SHOWS_WITHIN_MS }).toContain('sync is not installed');
    }
    await shot(page, 'after-retry');

    if (names.includes('handoff')) {
      // With handoff merged: the button downloads the bundle.
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.locator('[data-testid="make-handoff"]').click()]);
      expect(download.suggestedFilename()).toMatch(/^Handoff_\d{8}_\d{4}\.zip$/);
    } else {
      const answer = await page.evaluate(async () => {
        const res = await fetch('/ui/handoff', { method: 'POST' });
        return { status: res.status, body: await res.text() };
      });
      expect(answer.status).toBe(404);
      expect(answer.body).toContain('handoff function is not installed');
    }
    await page.close();
  });

  it('reads at 375 px wide and with JavaScript off', async () => {
    const collector = runtimes[0]!;
    const context = await browser.newContext({ viewport: { width: 375, height: 812 }, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${collector.url}/`);
    expect(await text(page, 'mode-badge')).toMatch(/DEBUG|PROD|DIAG/);
    expect(await page.locator('h2').allInnerTexts()).toEqual(expect.arrayContaining(['Leader', 'Storage', 'Sync', 'Hosts', 'Streams']));
    // Nothing wider than the phone: wide tables scroll inside their own box.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await shot(page, 'mobile-no-js');
    await page.goto(`${collector.url}/docs`);
    expect(await page.locator('h3').allInnerTexts()).toContain('POST /fn/storage-probe');
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await shot(page, 'docs-mobile');
    await context.close();
  });

  it('two runtimes: both pages list both hosts and agree on the leader', async () => {
    runtimes.push(await spawnRuntime({ host: 'pc-main', env: runtimeEnv() }));
    const pages = await Promise.all(runtimes.map(async (rt) => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${rt.url}/`);
      return page;
    }));
    for (const page of pages) {
      for (const host of ['pc-collector', 'pc-main']) {
        await expect.poll(() => page.locator(`tr[data-host="${host}"]`).count(), { timeout: SHOWS_WITHIN_MS }).toBe(1);
      }
    }
    const leaders = () => Promise.all(pages.map((p) => text(p, 'leader-host')));
    // Today nobody holds a lease until leader-heartbeat exists; then both must name the same holder.
    const withLease = (await functionNames(runtimes[0]!)).includes('leader-heartbeat');
    await expect
      .poll(async () => {
        const [a, b] = await leaders();
        return a === b && (!withLease || !a!.startsWith('none'));
      }, { timeout: withLease ? 90_000 : SHOWS_WITHIN_MS })
      .toBe(true);
    await shot(pages[1]!, 'two-hosts');
    await Promise.all(pages.map((p) => p.close()));
  });

  it('with an API token: sign in once, then the page and its buttons work from the cookie', async () => {
    const token = 'browser-test-token-5f3a9c-0a1b2c3d4e5f';
    const guarded = await spawnRuntime({ host: 'pc-guarded', env: { ...runtimeEnv(), BTC_TS_API_TOKEN: token } });
    runtimes.push(guarded);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const first = await page.goto(`${guarded.url}/`);
    expect(first?.status()).toBe(401);
    await page.locator('input[name="token"]').fill('wrong');
    await page.locator('button', { hasText: 'Sign in' }).click();
    await expect.poll(() => page.locator('[role="alert"]').count()).toBe(1);
    await page.locator('input[name="token"]').fill(token);
    await page.locator('button', { hasText: 'Sign in' }).click();
    await expect.poll(() => page.locator('[data-testid="self-host"]').count(), { timeout: SHOWS_WITHIN_MS }).toBe(1);
    expect(page.url()).toBe(`${guarded.url}/`); // the token is not left in the address bar
    expect(await text(page, 'self-host')).toBe('pc-guarded');
    await page.locator('[data-testid="retry-sync"]').click();
    await expect.poll(() => page.locator('#action-message').innerText(), { timeout: SHOWS_WITHIN_MS }).not.toMatch(/^(|Working…)$/);
    expect(await page.locator('#action-message').innerText()).not.toMatch(/bearer|unauthorized|cross-origin/);
    // One refresh through the cookie: clear the marker, then wait for the next refresh to set it.
    await page.evaluate(() => (document.getElementById('refresh-state')!.textContent = ''));
    await expect.poll(() => page.locator('#refresh-state').innerText(), { timeout: SHOWS_WITHIN_MS }).toBe('live');
    await page.close();
  });
});
