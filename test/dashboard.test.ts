// test/dashboard.test.ts
// The dashboard page in-process (hono app.request): mode, leader, every host, backlog, audit, ToDo, auth of the buttons.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import JSZip from 'jszip';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isoDate } from '../runtime/clock.ts';
import { defineFunction } from '../runtime/define.ts';
import { BtcError } from '../runtime/errors.ts';
import { parseNextTasks } from '../runtime/http/handover-tasks.ts';
import { SESSION_COOKIE } from '../runtime/http/ui-auth.ts';
import type { HostStatus } from '../runtime/status.ts';
import { uiRuntimesPerTest, type UiRuntime } from './helpers/ui-runtime.ts';
import { statusKey } from '../runtime/keys.ts';
import { recordAny } from './helpers/audit-any.ts';

const TOKEN = 'dashboard-test-token-0123456789-abc';
const ui = uiRuntimesPerTest();

function otherHost(host: string, now: number): HostStatus {
  return {
    host,
    mode: 'PROD',
    updated_at: new Date(now).toISOString(),
    leader: { host: 'alpha', since: null, active: false, epoch: 7 },
    storage: { primary: 'up', secondary: 'idle', secondary_path: '/x' },
    sync: { pending: false, last: null },
    streams: [
      { exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT', ok: true, cause: null, retries: 0, last_ok_ms: now - 4000, notes: [], records_today: 1234 },
      { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT', ok: false, cause: 'rate_limit', retries: 3, last_ok_ms: null, notes: ['429 from exchange'] },
    ],
  };
}

const html = (u: UiRuntime, url: string, headers: Record<string, string> = {}) => u.app.request(url, { headers: { accept: 'text/html', ...headers } });

describe('dashboard page', () => {
  it('shows mode, leader, storage, every host and their streams', async () => {
    const u = await ui({ env: { BTC_TS_MODE: 'PROD' } });
    const now = Date.now();
    Object.assign(u.runtime.lease, { holder: true, epoch: 7, leaderHost: 'alpha', since: now - 60_000 });
    await u.primary.put(statusKey('beta'), JSON.stringify(otherHost('beta', now)));

    const res = await html(u, '/');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('<main id="main"');
    expect(page).toMatch(/class="badge mode-PROD"[^>]*>● PROD</);
    expect(page).toMatch(/data-testid="leader-host">alpha</);
    expect(page).toMatch(/data-testid="leader-epoch">7</);
    expect(page).toContain('is the leader');
    expect(page).toMatch(/data-testid="primary-state">primary up</);
    expect(page).toMatch(/data-testid="secondary-state">cache idle</);
    expect(page).toContain('data-host="alpha"');
    expect(page).toContain('data-host="beta"');
    expect(page).toContain('alpha (this runtime)');
    // beta's stream rows become cards: ok, cause, retries, records today.
    expect(page.match(/data-testid="stream-card"/g)).toHaveLength(2);
    expect(page).toContain('rate_limit');
    expect(page).toContain('1234');
    expect(page).toContain('429 from exchange');
    // Works without JS: the page reloads itself; the partial is what the script swaps in.
    expect(page).toContain('<noscript><meta http-equiv="refresh"');
    const partial = await (await html(u, '/ui/partials/main')).text();
    expect(partial).not.toContain('<html');
    expect(partial).toContain('data-host="beta"');
  });

  it('DEBUG is yellow-labelled and a standby shows who leads', async () => {
    const u = await ui({ host: 'gamma' });
    Object.assign(u.runtime.lease, { holder: false, epoch: 2, leaderHost: 'alpha' });
    const page = await (await html(u, '/')).text();
    expect(page).toMatch(/class="badge mode-DEBUG"[^>]*>◆ DEBUG</);
    expect(page).toContain('standby');
    expect(page).toMatch(/data-testid="leader-host">alpha</);
  });

  it('counts the backlog in the local cache and shows a switch to the cache', async () => {
    const u = await ui();
    await u.cache.put('raw/x/ticker/BTC-USDT/dt=2026-01-01/000001-000000000000.jsonl', 'a'.repeat(1000));
    await u.cache.put('audit/dt=2026-01-01/alpha-000000000000.jsonl', 'b'.repeat(24));
    await u.cache.put('health/probe-alpha', 'not backlog');
    u.runtime.store.recordProbe({ ok: false, latencyMs: 1, error: 'connect ECONNREFUSED' });
    const page = await (await html(u, '/')).text();
    expect(page).toMatch(/data-testid="backlog">2 objects, 1.0 KiB</);
    expect(page).toMatch(/data-testid="primary-state">primary down</);
    expect(page).toMatch(/data-testid="secondary-state">cache in use</);
    expect(page).toContain('failed: connect ECONNREFUSED');
  });

  it('lists recent audit events, its own and other hosts’ of today from audit/', async () => {
    const u = await ui();
    await recordAny(u.runtime.audit, 'collector.storage.switch', { to: 'secondary' });
    const ts = Date.now() - 1000;
    const line = JSON.stringify({ ts, event: 'collector.leader.acquire', host: 'beta', actor: 'op', site: 's', payload: { epoch: 9 }, seq: 0 });
    await u.primary.put(`audit/dt=${isoDate(Date.now())}/beta-000000000000.jsonl`, `${line}\n{torn`);
    const page = await (await html(u, '/')).text();
    expect(page).toContain('collector.storage.switch');
    expect(page).toContain('collector.leader.acquire');
    expect(page).toContain('{&quot;epoch&quot;:9}');
  });

  it('shows next tasks from the latest handoff bundle, else docs/handover.md', async () => {
    const u = await ui();
    const handover = path.join(u.dir, 'handover.md');
    writeFileSync(handover, '# Handover\n## Done\n- old thing\n## Next\n- [ ] wire the lease\n- [x] draw the page\n* check sync\nprose is ignored\n## Later\n- not this\n');
    const withRepo = await ui({ handoverFile: handover });
    let page = await (await html(withRepo, '/')).text();
    expect(page).toContain('wire the lease');
    expect(page).toContain('(done) draw the page');
    expect(page).toContain('check sync');
    expect(page).not.toContain('not this');
    expect(page).not.toContain('old thing');

    const zip = new JSZip();
    zip.file('Handoff_20260102_0300/handover.md', '## Next tasks\n1. from the bundle\n2) second\n');
    await withRepo.primary.put('handoff/Handoff_20260101_0000.zip', await new JSZip().file('handover.md', '## Next\n- stale bundle\n').generateAsync({ type: 'nodebuffer' }));
    await withRepo.primary.put('handoff/Handoff_20260102_0300.zip', await zip.generateAsync({ type: 'nodebuffer' }));
    page = await (await html(withRepo, '/')).text();
    expect(page).toContain('from the bundle');
    expect(page).toContain('second');
    expect(page).not.toContain('stale bundle');
    expect(page).toContain('From handoff/Handoff_20260102_0300.zip!Handoff_20260102_0300/handover.md');

    await withRepo.primary.put('handoff/Handoff_20260103_0000.zip', 'not a zip');
    page = await (await html(withRepo, '/')).text();
    expect(page).toContain('latest handoff bundle unreadable');
    expect(page).toContain('wire the lease');
  });

  it('parses next tasks defensively', () => {
    expect(parseNextTasks('no headings at all\n- x')).toBeNull();
    expect(parseNextTasks('## 次にやること\n- 手順A\n')).toEqual([{ text: '手順A', done: false }]);
    expect(parseNextTasks('### ToDo\n-    \n- [X] done one\r\n#### sub\n- nested kept\n## Up\n- gone')).toEqual([
      { text: 'done one', done: true },
      { text: 'nested kept', done: false },
    ]);
    expect(parseNextTasks(`## Next\n${'- t\n'.repeat(100)}`)).toHaveLength(30);
  });

  it('links the MinIO console for raw/ and audit/ when the primary is S3', async () => {
    const s3 = { BTC_TS_S3_ENDPOINT: 'http://127.0.0.1:9', BTC_TS_S3_ACCESS_KEY: 'k', BTC_TS_S3_SECRET_KEY: 'secret-value-xyz' };
    const linked = await ui({ env: { ...s3, BTC_TS_S3_CONSOLE_URL: 'http://nas.local:9001/' } });
    const page = await (await html(linked, '/')).text();
    // The pinned console takes a plain prefix path (test/e2e/minio-console.browser.test.ts follows these links in it).
    expect(page).toContain('href="http://nas.local:9001/browser/btc-ts/raw/"');
    expect(page).toContain('href="http://nas.local:9001/browser/btc-ts/audit/"');
    expect(page).not.toContain('secret-value-xyz');
    const unlinked = await ui({ env: s3 });
    expect(await (await html(unlinked, '/')).text()).toContain('set storage.s3.consoleUrl (or BTC_TS_S3_CONSOLE_URL)');
  });
});

describe('Retry sync and Make handoff', () => {
  const post = (u: UiRuntime, url: string, headers: Record<string, string> = {}) =>
    u.app.request(url, { method: 'POST', headers: { accept: 'application/json', ...headers } });

  it('says clearly when the sync function does not exist', async () => {
    const u = await ui({ withoutFunctions: ['sync'] });
    const res = await post(u, '/ui/sync/retry');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ok: false, message: expect.stringContaining('sync is not installed') });
    expect(await (await html(u, '/')).text()).toContain('sync is not installed on this runtime yet');
    // The no-JS form gets the page back.
    const form = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'text/html' } });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/#sync');
  });

  it('runs sync and shows its result; a failure shows its message; a slow one answers 202', async () => {
    let behaviour: 'ok' | 'fail' | 'down' | 'slow' = 'ok';
    const sync = defineFunction({
      name: 'sync',
      description: 'test stand-in',
      input: z.object({}).passthrough(),
      output: z.looseObject({ uploaded: z.number().optional() }),
      async run() {
        if (behaviour === 'fail') throw new BtcError('Unavailable', 'primary still down');
        // What the real sync answers while the NAS is down: a run that copied nothing, not a throw.
        if (behaviour === 'down') return { ok: false, reason: 'primary_down', items: 0, bytes: 0, elapsed_ms: 0 };
        if (behaviour === 'slow') await new Promise((r) => setTimeout(r, 3_000));
        return { uploaded: 2 };
      },
    });
    const u = await ui({ extraFunctions: [sync] });
    let res = await post(u, '/ui/sync/retry');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, running: false, message: 'synced 0 objects (0 B) in 0.0 s; 0 left' });
    expect(u.runtime.audit.recentEvents(5).map((e) => e.event)).toContain('ui.sync.retry');

    behaviour = 'fail';
    res = await post(u, '/ui/sync/retry');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ok: false, message: 'sync failed: primary still down' });
    expect(await (await html(u, '/')).text()).toMatch(/UTC — sync failed: primary still down</);

    behaviour = 'down';
    res = await post(u, '/ui/sync/retry');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ok: false, message: 'sync failed: the primary (NAS) is still down; nothing was copied; 0 left' });

    behaviour = 'slow';
    res = await post(u, '/ui/sync/retry');
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ ok: true, running: true });
    expect(await (await html(u, '/')).text()).toContain('sync running');
    await expect.poll(async () => (await html(u, '/')).text(), { timeout: 5_000 }).toContain('UTC — synced 0 objects (0 B) in 0.0 s; 0 left');
  });

  it('Make handoff downloads the zip the handoff function makes', async () => {
    const handoff = defineFunction({
      name: 'handoff',
      description: 'test stand-in',
      input: z.object({}).passthrough(),
      output: z.any(),
      async run() {
        return { contentType: 'application/zip', filename: 'Handoff_20260101_0000.zip', bytes: Buffer.from('PK-test'), json: { key: 'k' } };
      },
    });
    const u = await ui({ extraFunctions: [handoff] });
    const res = await u.app.request('/ui/handoff', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toContain('Handoff_20260101_0000.zip');
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('PK-test');
    const missing = await ui({ withoutFunctions: ['handoff'] });
    const none = await missing.app.request('/ui/handoff', { method: 'POST' });
    expect(none.status).toBe(404);
    expect(await none.json()).toMatchObject({ error: 'unknown_function', message: expect.stringContaining('handoff function is not installed') });
  });
});

describe('with BTC_TS_API_TOKEN set', () => {
  const tokenEnv = { BTC_TS_API_TOKEN: TOKEN };

  it('the buttons need the bearer token or the session cookie', async () => {
    // Without a sync function, 404 proves the request got past the guard without running anything.
    const u = await ui({ env: tokenEnv, withoutFunctions: ['sync'] });
    const denied = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'application/json' } });
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ ok: false, error: 'unauthorized' });
    expect((await u.app.request('/ui/handoff', { method: 'POST' })).status).toBe(401);
    expect((await u.app.request('/ui/sync/retry', { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);

    const bearer = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'application/json', authorization: `Bearer ${TOKEN}` } });
    expect(bearer.status).toBe(404); // past the guard

    const signIn = await u.app.request('/ui/session', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKEN, next: '/docs' }).toString(),
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/docs');
    const setCookie = signIn.headers.get('set-cookie')!;
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=\\d+\\.[0-9a-f]{64};`));
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain('Secure');
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0]!;

    const withCookie = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'application/json', cookie, origin: 'http://localhost' } });
    expect(withCookie.status).toBe(404);
    const crossSite = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'application/json', cookie, origin: 'http://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect((await u.app.request('/ui/sync/retry', { method: 'POST', headers: { cookie: `${SESSION_COOKIE}=1.${'0'.repeat(64)}` } })).status).toBe(401);
    expect((await html(u, '/', { cookie })).status).toBe(200);
  });

  it('the page asks a browser without a session for the token', async () => {
    const u = await ui({ env: tokenEnv });
    const res = await html(u, '/');
    expect(res.status).toBe(401);
    const page = await res.text();
    expect(page).toContain('needs its API token');
    expect(page).toContain('name="token"');
    expect(page).not.toContain('data-host=');
    expect(page).toContain('action="/ui/session"');
    expect(page).toContain('method="post"');
    const wrong = await u.app.request('/ui/session', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=nope&next=%2F' });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Wrong token');
    expect((await u.app.request('/ui/partials/main')).status).toBe(401);
    expect((await u.app.request('/openapi.json')).status).toBe(401);
    expect((await u.app.request('/openapi.json', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });
});
