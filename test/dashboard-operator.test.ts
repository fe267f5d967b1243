// test/dashboard-operator.test.ts
// The page's operator cards in-process: CLI audit events of this PC, records today, the Retry sync sentence, the operator's ToDo.

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime } from '../runtime/context.ts';
import { syncSentence } from '../runtime/http/dashboard-routes.tsx';
import { silentLogger } from '../runtime/logger.ts';
import type { HostStatus } from '../runtime/status.ts';
import { uiRuntimesPerTest, type UiRuntime } from './helpers/ui-runtime.ts';
import { rawSegmentKey, statusKey } from '../runtime/keys.ts';
import { recordAny } from './helpers/audit-any.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ui = uiRuntimesPerTest();
const page = async (u: UiRuntime) => (await u.app.request('/', { headers: { accept: 'text/html' } })).text();

describe('Recent audit events', () => {
  it('shows the events of a CLI command on this PC (same host, shared WAL, shipped), each event once', async () => {
    const u = await ui({ host: 'alpha' });
    await recordAny(u.runtime.audit, 'server.own.event', { n: 1 });
    // A CLI command: its own runtime on the same data dir and host name, its own memory.
    const cli = await createRuntime(loadConfig({ env: { BTC_TS_HOST: 'alpha', BTC_TS_DATA_DIR: u.dir, BTC_TS_LOGS_DIR: path.join(u.dir, 'logs') } }), {
      log: silentLogger(),
      primary: u.primary,
      cache: u.cache,
      functions: new Map(),
      schedules: [],
      writeStatus: false,
    });
    await recordAny(cli.audit, 'cli.command.event', { n: 2 });
    await cli.shutdown(); // ships the shared WAL: the server's event too
    const html = await page(u);
    expect(html).toContain('cli.command.event');
    expect(html.match(/server\.own\.event/g)).toHaveLength(1);
  });
});

describe('Records today', () => {
  it('counts the records of today’s raw segments per stream (gap-free seq per epoch), "—" without any', async () => {
    const u = await ui({ host: 'alpha' });
    const now = Date.now();
    const stream = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
    const lines = (n: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ seq: i })).join('\n') + '\n';
    // epoch 3: seq 0..9 and 10..14; epoch 4: seq 0..6. Yesterday's segment does not count.
    await u.primary.put(rawSegmentKey(stream, 3, 0, now), lines(10));
    await u.primary.put(rawSegmentKey(stream, 3, 10, now), lines(5));
    await u.primary.put(rawSegmentKey(stream, 4, 0, now), lines(7));
    await u.primary.put(rawSegmentKey(stream, 2, 0, now - 86_400_000), lines(99));
    const row = (symbol: string) => ({ exchange: 'binance', topic: 'trades', symbol, ok: true, cause: null, retries: 0, last_ok_ms: now, notes: [] });
    const beta: HostStatus = {
      host: 'beta',
      mode: 'PROD',
      updated_at: new Date(now).toISOString(),
      leader: { host: 'beta', since: null, active: true },
      storage: { primary: 'up', secondary: 'idle', secondary_path: '/x' },
      sync: { pending: false, last: null },
      streams: [row('BTC/USDT'), row('ETH/USDT')],
    };
    await u.primary.put(statusKey('beta'), JSON.stringify(beta));
    const html = await page(u);
    const cards = [...html.matchAll(/<article class="card" data-testid="stream-card".*?<\/article>/gs)].map((m) => m[0]);
    expect(cards.find((c) => c.includes('BTC/USDT'))).toMatch(/<dt>Records today<\/dt><dd>22<\/dd>/);
    expect(cards.find((c) => c.includes('ETH/USDT'))).toMatch(/<dt>Records today<\/dt><dd>0<\/dd>/);
  });
});

describe('Retry sync', () => {
  it('answers a human sentence, not raw JSON', async () => {
    const u = await ui();
    await u.cache.put('raw/x/ticker/BTC-USDT/dt=2026-01-01/000001-000000000000.jsonl', 'a'.repeat(2048));
    const res = await u.app.request('/ui/sync/retry', { method: 'POST', headers: { accept: 'application/json' } });
    const body = (await res.json()) as { ok: boolean; message: string };
    expect(body.ok).toBe(true);
    expect(body.message).toMatch(/^synced 1 object \(2\.0 KiB\) in \d+\.\d s; 0 left$/);
    expect(await page(u)).toContain(body.message);
  });

  it('says why a sync failed and what is left', () => {
    expect(syncSentence({ ok: false, reason: 'primary_down', items: 0, bytes: 0, elapsed_ms: 0 }, { objects: 12, bytes: 1, capped: false })).toBe(
      'sync failed: the primary (NAS) is still down; nothing was copied; 12 left',
    );
    expect(syncSentence({ ok: true, items: 3, bytes: 3 * 1024 * 1024, elapsed_ms: 1500 }, { objects: 0, bytes: 0, capped: false })).toBe(
      'synced 3 objects (3.0 MiB) in 1.5 s; 0 left',
    );
  });
});

describe('Next tasks (ToDo)', () => {
  it('reads the operator’s handover file (handoff.handoverFile under handoff.repoDir), never this project’s docs', async () => {
    const u = await ui();
    const file = path.join(u.dir, 'ops-handover.md');
    writeFileSync(file, '## Next\n- rotate the NAS keys\n');
    writeFileSync(path.join(u.dir, 'app.yaml'), `handoff:\n  repoDir: ${JSON.stringify(u.dir)}\n  handoverFile: ops-handover.md\n`);
    const withFile = await ui({ env: { BTC_TS_CONFIG: path.join(u.dir, 'app.yaml') }, handoverFile: null });
    expect(withFile.runtime.loaded.config.handoff.handoverFile).toBe('ops-handover.md');
    const html = await page(withFile);
    expect(html).toContain('rotate the NAS keys');
    expect(html).toContain(`From ${file}`);
  });

  it('the project ships no docs/handover.md; its roadmap is docs/roadmap.md and the default card does not show it', async () => {
    expect(existsSync(path.join(ROOT, 'docs/handover.md'))).toBe(false);
    expect(existsSync(path.join(ROOT, 'docs/roadmap.md'))).toBe(true);
    // The default config: handoff.handoverFile docs/handover.md under this installation, which does not exist.
    const u = await ui({ handoverFile: null });
    const html = await page(u);
    expect(html).not.toContain('roadmap');
    expect(html).toContain('no handoff bundle in the store and no handover file at');
  });
});

describe('MinIO console links', () => {
  it('use the plain /browser/<bucket>/<prefix>/ path the pinned console takes (not base64)', async () => {
    const u = await ui({ env: { BTC_TS_S3_ENDPOINT: 'http://127.0.0.1:1', BTC_TS_S3_CONSOLE_URL: 'http://nas.local:9001/', BTC_TS_S3_ACCESS_KEY: 'k', BTC_TS_S3_SECRET_KEY: 's' } });
    const html = await page(u);
    expect(html).toContain('href="http://nas.local:9001/browser/btc-ts/raw/"');
    expect(html).toContain('href="http://nas.local:9001/browser/btc-ts/audit/"');
  });
});
