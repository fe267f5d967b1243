// test/alerts-cli.test.ts
// `runtime alerts [--json]`, `runtime alerts test` and the page's alerts card, with incidents opened by real conditions on two hosts.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readIncidents } from '../runtime/alerts/incidents.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { silentLogger } from '../runtime/logger.ts';
import { runCli } from './helpers/run-cli.ts';
import { uiRuntimesPerTest } from './helpers/ui-runtime.ts';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.ts';

const ui = uiRuntimesPerTest();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Any real disk has less free space than this: the disk_free rule's condition holds (a real statfs reading). */
const UNREACHABLE_FREE = String(2 ** 52);

describe('runtime alerts and the alerts card', () => {
  it('lists the open incidents of every host (JSON and table) and shows them on top of the page; a test message reaches each webhook', { timeout: 180_000 }, async () => {
    const alpha = await ui({ host: 'alpha', env: { BTC_TS_MODE: 'PROD', BTC_TS_DISK_FREE_WARN_BYTES: UNREACHABLE_FREE } });
    const page0 = await (await alpha.app.request('/', { headers: { accept: 'text/html' } })).text();
    expect(page0).toContain('data-testid="alerts-none"');

    // A second PC on the same primary with its own incident, seen through its status object.
    const betaDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-alerts-beta-'));
    cleanups.push(() => rmSync(betaDir, { recursive: true, force: true }));
    const beta: Runtime = await createRuntime(
      loadConfig({ env: { BTC_TS_HOST: 'beta', BTC_TS_MODE: 'PROD', BTC_TS_DATA_DIR: betaDir, BTC_TS_LOGS_DIR: path.join(betaDir, 'logs'), BTC_TS_DISK_FREE_WARN_BYTES: UNREACHABLE_FREE } }),
      { log: silentLogger(), primary: alpha.primary, schedules: [] },
    );
    cleanups.push(() => beta.shutdown());
    expect(await alpha.runtime.invoker.invoke('alert-check', {})).toMatchObject({ fired: ['disk_free'] });
    expect(await beta.invoker.invoke('alert-check', {})).toMatchObject({ fired: ['disk_free'] });

    const page = await (await alpha.app.request('/', { headers: { accept: 'text/html' } })).text();
    const card = page.indexOf('data-testid="alerts-card"');
    expect(card).toBeGreaterThan(0);
    // On top: before the runtime card.
    expect(card).toBeLessThan(page.indexOf('id="h-runtime"'));
    expect(page.match(/data-alert-key="disk_free"/g)).toHaveLength(2);
    expect(page).toMatch(/MiB free on the data directory/);

    const env = { BTC_TS_HOST: 'alpha', BTC_TS_DATA_DIR: alpha.dir, BTC_TS_LOGS_DIR: path.join(alpha.dir, 'logs'), BTC_TS_FS_PRIMARY_DIR: path.join(alpha.dir, 'nas') };
    const listed = await runCli(['alerts', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const json = JSON.parse(listed.stdout) as { open: Array<{ host: string; rule: string; key: string; summary: string }>; errors: string[] };
    expect(json.errors).toEqual([]);
    expect(json.open.map((o) => `${o.host}:${o.key}`).sort()).toEqual(['alpha:disk_free', 'beta:disk_free']);

    const table = await runCli(['alerts'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/alpha\s+disk_free/);
    expect(table.stdout).toMatch(/beta\s+disk_free/);

    // A CLI process does not know the serving runtime's lease or NAS state: it refuses to check (and so never resolves its incidents).
    const local = await runCli(['invoke', 'alert-check', '--local'], env);
    expect(local.code).not.toBe(0);
    expect(local.stderr + local.stdout).toMatch(/alert-check runs in the runtime serving this host/);
    expect((await readIncidents(alpha.dir)).incidents.map((i) => i.key)).toEqual(['disk_free']);

    const receiver: WebhookReceiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const urls = [`${receiver.base}/ok/T0/B0/very-secret-token`, `${receiver.base}/fail/other-secret-token`];
    const tested = await runCli(['alerts', 'test'], { ...env, SIGNAL_WEBHOOK_URLS: urls.join(',') });
    // One webhook answers 500 twice (first try and the one retry): the command says so and exits 1.
    expect(tested.code).toBe(1);
    const ok = receiver.received.filter((m) => m.path.startsWith('/ok'));
    expect(ok).toHaveLength(1);
    expect(ok[0]!.body).toMatchObject({ signal_id: 'btc_ts_alert', kind: 'test', rule: 'test', host: 'alpha' });
    expect(receiver.received.filter((m) => m.path.startsWith('/fail'))).toHaveLength(2);
    expect(tested.stdout).toMatch(/ok/);
    expect(tested.stdout).toMatch(/HTTP 500/);
    for (const out of [tested.stdout, tested.stderr, listed.stdout, listed.stderr]) expect(out).not.toMatch(/secret-token/);
  });
});
