// test/e2e/minio-console.browser.test.ts
// The page's raw/ and audit/ links open those prefixes in the real MinIO console (the pinned build), followed in Chromium.

import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Store } from '../../runtime/store/s3.ts';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/chromium.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

/** An exchange name no other test uses: seeing it proves the console opened raw/, not the bucket root. */
const EXCHANGE = 'consolelinkex';
const AUDIT_DAY = 'dt=2026-11-28';

let minio: MinioServer;
let browser: Browser;
let runtime: RuntimeProcess | undefined;

beforeAll(async () => {
  const [executablePath, server] = await Promise.all([ensureChromium(), startMinio({ bucket: 'btc-ts-console', console: true })]);
  minio = server;
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const store = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  await store.put(`raw/${EXCHANGE}/trades/BTC-USDT/dt=2026-11-28/000001-000000000001.jsonl`, '{}\n');
  await store.put(`audit/${AUDIT_DAY}/somehost-000000000001.jsonl`, '{}\n');
  runtime = await spawnRuntime({ host: 'pc-console', env: { ...minio.env, BTC_TS_S3_CONSOLE_URL: minio.consoleUrl! } });
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.dispose();
  await minio?.dispose();
});

/** Signs in to the console with the bucket's credentials (its own login form). */
async function signInToConsole(page: Page): Promise<void> {
  await page.goto(`${minio.consoleUrl}/login`);
  await page.locator('#accessKey').fill(minio.accessKey);
  await page.locator('#secretKey').fill(minio.secretKey);
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => !url.pathname.startsWith('/login'), { timeout: 30_000 });
}

describe('MinIO console links', () => {
  it('raw/ and audit/ open those prefixes in the pinned console, not the bucket root', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const page = await context.newPage();
      await signInToConsole(page);
      await page.goto(`${runtime!.url}/`);
      const raw = await page.locator('a', { hasText: 'raw/ in the MinIO console' }).getAttribute('href');
      const audit = await page.locator('a', { hasText: 'audit/ in the MinIO console' }).getAttribute('href');
      expect(raw).toBe(`${minio.consoleUrl}/browser/${minio.bucket}/raw/`);

      // Follow each link as the operator does (it opens a new tab) and read what the console lists.
      for (const [href, shows, hides] of [
        [raw!, EXCHANGE, 'audit'],
        [audit!, AUDIT_DAY, EXCHANGE],
      ] as const) {
        const link = page.locator(`a[href="${href}"]`);
        const [tab] = await Promise.all([context.waitForEvent('page'), link.click()]);
        await tab.waitForLoadState();
        // The console's object list is the element holding the row names; wait for the row itself.
        await expect.poll(() => tab.getByText(shows, { exact: true }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
        expect(await tab.getByText(hides, { exact: true }).count(), `${href} must not list the bucket root`).toBe(0);
        await tab.close();
      }
    } finally {
      await context.close();
    }
  }, 180_000);
});
