// test/http-security.test.ts
// The HTTP face's own defences through app.request: Host allow-list, same-origin rule, JSON-only duties, headers, sessions, hostile inputs.

import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { manualClock } from '../runtime/clock.ts';
import { refuseOpenBindWithoutToken } from '../runtime/cli/start.ts';
import { defineFunction, type AnyFunction } from '../runtime/define.ts';
import { REFRESH_SCRIPT } from '../runtime/http/dashboard-script.ts';
import { STYLE } from '../runtime/http/layout.tsx';
import { createHostCheck, isLoopbackHost } from '../runtime/http/security.ts';
import { SESSION_COOKIE, SESSION_MAX_AGE_MS } from '../runtime/http/ui-auth.ts';
import { createApp } from '../runtime/http/app.ts';
import { JOB_ID_PATTERN } from '../runtime/dashboard-export/keys.ts';
import { defineSlot } from '../runtime/local-slots.ts';
import { makeRuntime } from './helpers/state-fixtures.ts';
import { uiRuntimesPerTest, type UiRuntime } from './helpers/ui-runtime.ts';

const TOKEN = 'security-test-token-0123456789abcdef';

/** A duty that only counts its runs: a refused request must leave the count alone. */
/** How many times `touch` ran in this runtime. */
const TOUCH_RUNS = defineSlot<number>('touch.runs');

const touch = defineFunction({
  name: 'touch',
  description: 'counts runs',
  input: z.object({}).strict(),
  output: z.object({ runs: z.number() }),
  run: async (_input, ctx) => {
    const runs = (ctx.local.get(TOUCH_RUNS) ?? 0) + 1;
    ctx.local.set(TOUCH_RUNS, runs);
    return { runs };
  },
}) as AnyFunction;

const ui = uiRuntimesPerTest({ extraFunctions: [touch] });
const runs = (u: UiRuntime) => u.runtime.local.get(TOUCH_RUNS) ?? 0;
const JSON_TYPE = { 'content-type': 'application/json' };

describe('DNS rebinding: the Host allow-list', () => {
  it('refuses a foreign Host on every route, read or write, token or not', async () => {
    for (const env of [{}, { BTC_TS_API_TOKEN: TOKEN }] as Record<string, string>[]) {
      const u = await ui({ env });
      const auth: Record<string, string> = 'BTC_TS_API_TOKEN' in env ? { authorization: `Bearer ${TOKEN}` } : {};
      for (const [method, route] of [
        ['GET', '/health'],
        ['GET', '/status'],
        ['GET', '/'],
        ['GET', '/metrics'],
        ['GET', '/openapi.json'],
        ['POST', '/fn/touch'],
        ['POST', '/ui/handoff'],
      ] as const) {
        const res = await u.app.request(route, { method, headers: { host: 'rebind.example:8787', ...JSON_TYPE, ...auth }, body: method === 'POST' ? '{}' : undefined });
        expect(res.status, `${method} ${route}`).toBe(403);
        expect(await res.json()).toMatchObject({ ok: false, error: 'forbidden', message: expect.stringContaining('http.allowedHosts') });
      }
      expect(runs(u)).toBe(0);
      // The runtime's own names pass.
      for (const host of ['localhost:8787', '127.0.0.1:8787', '[::1]:8787', 'LOCALHOST']) {
        expect((await u.app.request('/health', { headers: { host } })).status, host).toBe(200);
      }
    }
  });

  it('configured names pass (any port, or the one given); malformed Host headers do not', () => {
    const check = createHostCheck({ bindHost: '127.0.0.1', allowedHosts: ['desk.example', 'proxy.example:443'] });
    expect(check('desk.example:9999', 8787)).toBe(true);
    expect(check('proxy.example:443', 8787)).toBe(true);
    expect(check('proxy.example:444', 8787)).toBe(false);
    // Own names must come with the port the request arrived on: another loopback port is another origin.
    expect(check('localhost:8787', 8787)).toBe(true);
    expect(check('localhost:9999', 8787)).toBe(false);
    expect(check('127.0.0.1', 8787)).toBe(true);
    for (const bad of ['', 'evil.example', 'localhost.evil.example', 'localhost@evil', 'a b', '127.0.0.1:8787:1']) expect(check(bad, 8787), bad).toBe(false);
    expect(createHostCheck({ bindHost: '0.0.0.0', allowedHosts: [] })('127.0.0.1:1', 1)).toBe(true);
    expect(isLoopbackHost('127.0.0.2') && isLoopbackHost('[::1]') && isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0') || isLoopbackHost('192.168.1.5') || isLoopbackHost('nas.local')).toBe(false);
  });

  it('BTC_TS_ALLOWED_HOSTS adds names', async () => {
    const u = await ui({ env: { BTC_TS_ALLOWED_HOSTS: 'desk.example, ops.example:8443' } });
    expect((await u.app.request('/health', { headers: { host: 'desk.example:8787' } })).status).toBe(200);
    expect((await u.app.request('/health', { headers: { host: 'ops.example:8443' } })).status).toBe(200);
    expect((await u.app.request('/health', { headers: { host: 'ops.example:80' } })).status).toBe(403);
  });
});

describe('cross-site requests: the same-origin rule and JSON-only duties', () => {
  it('a duty needs Content-Type: application/json (a CORS simple request cannot run one)', async () => {
    const u = await ui();
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const res = await u.app.request('/fn/touch', { method: 'POST', body: '{}', headers: type ? { 'content-type': type } : {} });
      expect(res.status, String(type)).toBe(415);
      expect(await res.json()).toMatchObject({ error: 'unsupported_media_type', message: expect.stringContaining("-H 'content-type: application/json'") });
    }
    expect(runs(u)).toBe(0);
    const ok = await u.app.request('/fn/touch', { method: 'POST', body: '', headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(ok.status).toBe(200);
    expect(runs(u)).toBe(1);
  });

  it('refuses another origin, a file:// page (Origin: null) and Sec-Fetch-Site cross-site — token or not, bearer or not', async () => {
    for (const env of [{}, { BTC_TS_API_TOKEN: TOKEN }] as Record<string, string>[]) {
      const u = await ui({ env });
      const auths: Record<string, string>[] = 'BTC_TS_API_TOKEN' in env ? [{ authorization: `Bearer ${TOKEN}` }, { authorization: 'Bearer wrong' }] : [{}];
      for (const auth of auths) {
        for (const browser of <Record<string, string>[]>[
          { origin: 'http://localhost:9999' },
          { origin: 'http://evil.example' },
          { origin: 'null' },
          { 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'same-site' },
          { origin: 'not a url' },
        ]) {
          for (const route of ['/fn/touch', '/ui/sync/retry', '/ui/handoff', '/ui/session']) {
            const res = await u.app.request(route, { method: 'POST', body: '{}', headers: { host: 'localhost:8787', ...JSON_TYPE, ...auth, ...browser } });
            expect(res.status, `${route} ${JSON.stringify(browser)} ${JSON.stringify(auth)}`).toBe(403);
          }
        }
      }
      expect(runs(u)).toBe(0);
      // The page's own origin, and clients that are not browsers (no Origin), pass.
      const self = await u.app.request('/fn/touch', {
        method: 'POST',
        body: '{}',
        headers: { host: 'localhost:8787', origin: 'http://localhost:8787', 'sec-fetch-site': 'same-origin', ...JSON_TYPE, ...auths[0] },
      });
      expect(self.status).toBe(200);
      expect((await u.app.request('/fn/touch', { method: 'POST', body: '{}', headers: { ...JSON_TYPE, ...auths[0] } })).status).toBe(200);
      expect(runs(u)).toBe(2);
    }
  });
});

describe('headers on every answer', () => {
  it('CSP allows only the page’s own script and style (by hash); no framing, no sniffing', async () => {
    const u = await ui();
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    for (const route of ['/', '/health', '/docs', '/nope']) {
      const res = await u.app.request(route, { headers: { accept: 'text/html' } });
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, route).toContain(`script-src ${hash(REFRESH_SCRIPT)}`);
      expect(csp).toContain(`style-src ${hash(STYLE)}`);
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // The page's inline elements are exactly what the hashes cover: no other inline script or style attribute.
    const page = await (await u.app.request('/', { headers: { accept: 'text/html' } })).text();
    expect(page.match(/<script>/g)).toHaveLength(1);
    expect(page).toContain(`<script>${REFRESH_SCRIPT}</script>`);
    expect(page).not.toMatch(/\sstyle="/);
    expect(page).not.toMatch(/\son[a-z]+="/);
  });
});

describe('sessions', () => {
  it('sign-in is a POST (never a token in the URL); the server ends a session after 7 days', async () => {
    const clock = manualClock(Date.UTC(2026, 10, 1));
    const u = await ui({ env: { BTC_TS_API_TOKEN: TOKEN }, clock });
    const asQuery = await u.app.request(`/?token=${TOKEN}`, { headers: { accept: 'text/html' } });
    expect(asQuery.status).toBe(401);
    expect(asQuery.headers.get('set-cookie')).toBeNull();

    const signIn = await u.app.request('/ui/session', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: TOKEN, next: '//evil.example/x' }).toString(),
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/');
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const page = () => u.app.request('/ui/partials/main', { headers: { cookie } });
    expect((await page()).status).toBe(200);
    clock.advance(SESSION_MAX_AGE_MS - 60_000);
    expect((await page()).status).toBe(200);
    clock.advance(120_000);
    expect((await page()).status).toBe(401);
    // A forged age does not help: the HMAC covers it.
    const [, mac] = cookie.split('=')[1]!.split('.');
    const forged = `${SESSION_COOKIE}=${clock.now()}.${mac}`;
    expect((await u.app.request('/ui/partials/main', { headers: { cookie: forged } })).status).toBe(401);
  });

  it('the cookie is Secure behind a TLS proxy only when http.trustProxy is on', async () => {
    const signIn = (u: UiRuntime) =>
      u.app.request('/ui/session', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
        body: new URLSearchParams({ token: TOKEN }).toString(),
      });
    const plain = await ui({ env: { BTC_TS_API_TOKEN: TOKEN } });
    expect((await signIn(plain)).headers.get('set-cookie')).not.toContain('Secure');
    const file = path.join(plain.dir, 'proxy.yaml');
    writeFileSync(file, 'http:\n  trustProxy: true\n');
    const proxied = await ui({ env: { BTC_TS_API_TOKEN: TOKEN, BTC_TS_CONFIG: file } });
    const res = await signIn(proxied);
    expect(res.headers.get('set-cookie')).toContain('Secure');
  });
});

describe('start-up: a network bind needs a token', () => {
  it('refuses a non-loopback bind without BTC_TS_API_TOKEN unless --insecure-no-token', () => {
    expect(() => refuseOpenBindWithoutToken('0.0.0.0', undefined, false)).toThrow(/refusing to listen on 0\.0\.0\.0 without BTC_TS_API_TOKEN/);
    expect(() => refuseOpenBindWithoutToken('192.168.1.5', undefined, false)).toThrow(/--insecure-no-token/);
    expect(refuseOpenBindWithoutToken('0.0.0.0', undefined, true)).toBe(true);
    expect(refuseOpenBindWithoutToken('0.0.0.0', TOKEN, false)).toBe(false);
    expect(refuseOpenBindWithoutToken('127.0.0.1', undefined, false)).toBe(false);
    expect(refuseOpenBindWithoutToken('localhost', undefined, false)).toBe(false);
  });
});

describe('hostile inputs get 400, not 500', () => {
  it('state-update looks strategies up in own properties only', async () => {
    const t = await makeRuntime();
    try {
      const app = createApp(t.runtime);
      for (const strategy of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
        const res = await app.request('/fn/state-update', { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ strategy }) });
        expect(res.status, strategy).toBe(400);
        expect(await res.json()).toMatchObject({ error: 'invalid_input', message: expect.stringContaining(`unknown strategy ${strategy}`) });
      }
    } finally {
      await t.dispose();
    }
  });

  it('job_id is a safe key segment: no leading dash or dot, no "..", no trailing dot', async () => {
    for (const bad of ['-rf', '.hidden', 'a..b', 'x.', '../up', 'a/b', 'a b', '']) expect(JOB_ID_PATTERN.test(bad), bad).toBe(false);
    for (const good of ['20260101T050000Z-pc.local', 'nightly_1', 'A-1.b']) expect(JOB_ID_PATTERN.test(good), good).toBe(true);
    const u = await ui();
    const res = await u.app.request('/fn/dashboard-export', { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ job_id: '-rf' }) });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_input', issues: [expect.objectContaining({ path: ['job_id'] })] });
  });
});
