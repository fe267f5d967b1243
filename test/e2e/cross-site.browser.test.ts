// test/e2e/cross-site.browser.test.ts
// A web page cannot drive the runtime: another origin, a file:// page and a DNS-rebinding host, in real Chromium against real runtimes.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, ensureChromium } from '../helpers/chromium.ts';
import { freePort } from '../helpers/minio.ts';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const TOKEN = 'cross-site-test-token-0123456789abcdef';
const REBIND_HOST = 'rebind.example';

/**
 * What a hostile page does, written as a page script: every way a browser can POST to another
 * origin without a preflight. `window.done` turns true once every attempt has settled.
 */
function attackPage(target: string): string {
  return `<!doctype html><meta charset="utf-8"><title>totally harmless</title>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="post" action="${target}/ui/sync/retry" target="sink"><input name="x" value="1"></form>
<script>
(async () => {
  const body = JSON.stringify({ action: 'disable', reason: 'pwned' });
  const tries = [
    fetch('${target}/fn/state-override', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }),
    fetch('${target}/fn/state-override', { method: 'POST', mode: 'no-cors', body }),
    fetch('${target}/fn/state-override', { method: 'POST', mode: 'cors', headers: { 'content-type': 'application/json' }, body }),
    fetch('${target}/ui/handoff', { method: 'POST', mode: 'no-cors' }),
  ].map((p) => p.then(() => 'sent', (e) => 'error: ' + e.message));
  navigator.sendBeacon('${target}/fn/state-override', new Blob([body], { type: 'text/plain' }));
  document.getElementById('f').submit();
  window.results = await Promise.all(tries);
  window.done = true;
})();
</script>`;
}

let browser: Browser;
let rebindingBrowser: Browser;
let attacker: Server;
let attackerUrl = '';
let pageDir = '';
const runtimes: RuntimeProcess[] = [];
let pageHtml = '';

/** Counters read over loopback by the test itself (Node sends no Origin), parsed from /metrics. */
async function counters(rt: RuntimeProcess): Promise<{ refused: number; overrideRuns: number; syncHttpRuns: number; handoffRuns: number }> {
  const text = await (await fetch(`${rt.url}/metrics`)).text();
  const sum = (re: RegExp) => text.split('\n').filter((l) => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  return {
    refused: sum(/^btc_ts_http_refused_total\{/),
    overrideRuns: sum(/^btc_ts_function_runs_total\{fn="state-override"/),
    syncHttpRuns: sum(/^btc_ts_function_runs_total\{fn="sync",source="http"/),
    handoffRuns: sum(/^btc_ts_function_runs_total\{fn="handoff"/),
  };
}

async function runAttack(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { done?: boolean }).done === true, undefined, { timeout: 30_000 });
}

beforeAll(async () => {
  const executablePath = await ensureChromium();
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  rebindingBrowser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${REBIND_HOST} 127.0.0.1`], headless: true });
  runtimes.push(await spawnRuntime({ host: 'pc-open' }));
  runtimes.push(await spawnRuntime({ host: 'pc-token', env: { BTC_TS_API_TOKEN: TOKEN } }));
  attacker = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(pageHtml);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  pageDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-attack-'));
}, 15 * 60_000);

afterAll(async () => {
  await browser?.close();
  await rebindingBrowser?.close();
  attacker?.closeAllConnections();
  await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
  await Promise.all(runtimes.map((r) => r.dispose()));
  if (pageDir) rmSync(pageDir, { recursive: true, force: true });
});

describe('a web page cannot drive the runtime', () => {
  for (const which of ['pc-open', 'pc-token'] as const) {
    it(`${which}: a page on another loopback port and a downloaded .html file run nothing`, async () => {
      const rt = runtimes.find((r) => r.host === which)!;
      const before = await counters(rt);
      pageHtml = attackPage(rt.url);
      const page = await browser.newPage();
      try {
        // 1. A page served from another port of this machine (another origin, same site).
        await runAttack(page, `${attackerUrl}/`);
        // 2. The same page saved to disk and opened from there (Origin: null).
        const file = path.join(pageDir, `${which}.html`);
        writeFileSync(file, pageHtml);
        await runAttack(page, `file://${file}`);
      } finally {
        await page.close();
      }
      // The requests reached the runtime and were refused there: 2 pages × (3 fetches that are
      // sent + a beacon + a form) — the preflighted JSON fetch never leaves the browser.
      await expect.poll(async () => (await counters(rt)).refused - before.refused, { timeout: 10_000 }).toBeGreaterThanOrEqual(10);
      const after = await counters(rt);
      expect(after.overrideRuns).toBe(before.overrideRuns);
      expect(after.syncHttpRuns).toBe(before.syncHttpRuns);
      expect(after.handoffRuns).toBe(before.handoffRuns);
      // The flag the attack tried to flip was never written.
      const auth: Record<string, string> = which === 'pc-token' ? { authorization: `Bearer ${TOKEN}` } : {};
      const flag = await fetch(`${rt.url}/fn/state-override`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"action":"status"}' });
      expect(((await flag.json()) as { result: { current: { reason: string } } }).result.current.reason).not.toBe('pwned');
    }, 120_000);
  }

  it('a DNS-rebinding host can neither read a route nor run a duty', async () => {
    const rt = runtimes.find((r) => r.host === 'pc-open')!;
    const before = await counters(rt);
    const page = await rebindingBrowser.newPage();
    try {
      const rebound = `http://${REBIND_HOST}:${rt.port}`;
      for (const route of ['/', '/status', '/health', '/docs']) {
        const res = await page.goto(`${rebound}${route}`);
        expect(res?.status(), route).toBe(403);
      }
      // From the rebound origin, the browser sees same-origin requests: only the Host rule stops them.
      const answers = await page.evaluate(async () => {
        const post = await fetch('/fn/state-override', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"action":"disable"}' });
        const zip = await fetch('/fn/handoff', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/zip' }, body: '{}' });
        const status = await fetch('/status');
        return [post.status, zip.status, status.status];
      });
      expect(answers).toEqual([403, 403, 403]);
    } finally {
      await page.close();
    }
    const after = await counters(rt);
    expect(after.overrideRuns).toBe(before.overrideRuns);
    expect(after.handoffRuns).toBe(before.handoffRuns);
    expect(after.refused - before.refused).toBeGreaterThanOrEqual(7);
    // The same runtime under its own name still answers.
    expect((await fetch(`${rt.url}/health`)).status).toBe(200);
  }, 120_000);

  for (const which of ['pc-open', 'pc-token'] as const) {
    it(`${which}: the dashboard's own buttons still work, with no console CSP violation`, async () => {
      const rt = runtimes.find((r) => r.host === which)!;
      const page = await browser.newPage();
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content[- ]Security[- ]Policy|Refused to/i.test(m.text())) violations.push(m.text());
      });
      try {
        await page.goto(`${rt.url}/`);
        if (which === 'pc-token') {
          await page.locator('input[name="token"]').fill(TOKEN);
          await page.locator('button', { hasText: 'Sign in' }).click();
          await page.waitForURL(`${rt.url}/`);
        }
        const before = await counters(rt);
        await page.locator('[data-testid="retry-sync"]').click();
        await expect.poll(() => page.locator('#action-message').innerText(), { timeout: 20_000 }).not.toMatch(/^(|Working…)$/);
        expect(await page.locator('#action-message').innerText()).not.toMatch(/forbidden|refused|unauthorized/i);
        await expect.poll(() => page.locator('#refresh-state').innerText(), { timeout: 20_000 }).toBe('live');
        const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.locator('[data-testid="make-handoff"]').click()]);
        expect(download.suggestedFilename()).toMatch(/^Handoff_\d{8}_\d{4}\.zip$/);
        const after = await counters(rt);
        expect(after.refused).toBe(before.refused);
        expect(after.syncHttpRuns).toBeGreaterThan(before.syncHttpRuns);
        expect(violations).toEqual([]);
      } finally {
        await page.close();
      }
    }, 120_000);
  }

  it('a network bind without a token is refused at start; --insecure-no-token starts, shouts in the log and on the page', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bind-'));
    try {
      const port = String(await freePort());
      const env = { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_PORT: port };
      const refused = await runCli(['start', '--host', '0.0.0.0'], env);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without BTC_TS_API_TOKEN.*--insecure-no-token/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const insecure = await spawnRuntime({ host: 'pc-insecure', args: ['--host', '0.0.0.0', '--insecure-no-token'] });
    runtimes.push(insecure);
    expect(insecure.output()).toMatch(/INSECURE: listening on 0\.0\.0\.0 without BTC_TS_API_TOKEN/);
    const page = await browser.newPage();
    try {
      await page.goto(`${insecure.url}/`);
      expect(await page.locator('[data-testid="insecure-banner"]').innerText()).toContain('without BTC_TS_API_TOKEN');
    } finally {
      await page.close();
    }
  }, 120_000);
});
