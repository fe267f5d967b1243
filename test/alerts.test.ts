// test/alerts.test.ts
// Each alert rule fires once and resolves once at a real local webhook receiver while its condition is produced for real (in-process runtimes).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { bootstrapBucket } from '../infra/minio/bootstrap.ts';
import { bodyFor, formatOf } from '../runtime/alerts/deliver.ts';
import type { CheckResult } from '../runtime/alerts/incidents.ts';
import { INCIDENTS_SLOT, readIncidents } from '../runtime/alerts/incidents.ts';
import type { Clock } from '../runtime/clock.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { diskSpace } from '../runtime/disk-space.ts';
import { diagReasons } from '../runtime/diag-reasons.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { silentLogger } from '../runtime/logger.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { segments } from './helpers/data-fixtures.ts';
import { leaseRuntimes } from './helpers/lease-inproc.ts';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts';
import { startWebhookReceiver, type ReceivedHook, type WebhookReceiver } from './helpers/webhook-receiver.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Two receivers: one takes the generic JSON, the other is configured as Slack-compatible (`{ text }`). */
async function receivers(): Promise<{ json: WebhookReceiver; slack: WebhookReceiver; alerts: Record<string, unknown> }> {
  const json = await startWebhookReceiver();
  const slack = await startWebhookReceiver();
  cleanups.push(() => json.close(), () => slack.close());
  return {
    json,
    slack,
    alerts: {
      webhookUrls: [`${json.base}/hooks/T000/json-secret-token`, `${slack.base}/services/T1/B1/slack-secret-token`],
      formats: { [slack.hostPort]: 'slack' },
      repeatSeconds: 0,
      retryDelayMs: 10,
      timeoutMs: 3_000,
    },
  };
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function runtimeWith(options: { env?: Record<string, string>; overrides: Record<string, unknown>; clock?: Clock; dataDir?: string }): Promise<Runtime> {
  const dataDir = options.dataDir ?? tempDir('btc-ts-alerts-');
  const loaded = loadConfig({
    env: { BTC_TS_HOST: 'alert-pc', BTC_TS_MODE: 'PROD', BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), ...options.env },
    overrides: options.overrides,
  });
  const runtime = await createRuntime(loaded, { log: silentLogger(), ...(options.clock ? { clock: options.clock } : {}) });
  // A test may have shut it down already (a restart): the second call is harmless.
  cleanups.push(() => runtime.shutdown().catch(() => undefined));
  return runtime;
}

const check = (rt: Runtime) => rt.invoker.invoke('alert-check', {}) as Promise<CheckResult>;
const probe = (rt: Runtime) => rt.invoker.invoke('storage-probe', {});

/** Polls `step` (which does the work and answers whether it is done) with a generous bound. */
async function until(what: string, step: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await step()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** JSON messages of one incident key, in arrival order. */
const messages = (r: WebhookReceiver, key: string) => r.received.filter((m) => m.body?.key === key).map((m) => m.body.kind as string);
const slackTexts = (r: WebhookReceiver, key: string) => r.received.map((m: ReceivedHook) => String(m.body?.text ?? '')).filter((t) => t.includes(`key ${key})`));
const audited = (rt: Runtime, event: string, key: string) => rt.audit.recentEvents(200).filter((e) => e.event === event && e.payload.key === key);

/** Exactly one fire then one resolve for `key` at both receivers and in the audit; tokens never in a body or the audit. */
function expectFiredAndResolvedOnce(rt: Runtime, r: { json: WebhookReceiver; slack: WebhookReceiver }, key: string): void {
  expect(messages(r.json, key), `json messages of ${key}`).toEqual(['fire', 'resolve']);
  const texts = slackTexts(r.slack, key);
  expect(texts, `slack messages of ${key}`).toHaveLength(2);
  expect(texts[0]).toMatch(/^\[FIRING\] btc-ts /);
  expect(texts[1]).toMatch(/^\[RESOLVED\] btc-ts /);
  expect(audited(rt, 'alert.fire', key)).toHaveLength(1);
  expect(audited(rt, 'alert.resolve', key)).toHaveLength(1);
  expect(JSON.stringify(rt.audit.recentEvents(200))).not.toContain('secret-token');
}

describe('alert rules against a real webhook receiver', () => {
  let minio: { endpoint: string; accessKey: string; secretKey: string };
  beforeAll(() => {
    minio = inject('minio');
  });

  async function minioBehindProxy(): Promise<{ proxy: TcpProxy; env: Record<string, string> }> {
    const bucket = `alerts-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
    const target = new URL(minio.endpoint);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    cleanups.push(() => proxy.close());
    return { proxy, env: { BTC_TS_S3_ENDPOINT: proxy.url, BTC_TS_S3_BUCKET: bucket, BTC_TS_S3_ACCESS_KEY: minio.accessKey, BTC_TS_S3_SECRET_KEY: minio.secretKey } };
  }

  it('NAS cut off: primary_down, cache_backlog and diag (DIAG for the outage) fire once, resolve once when it is back and synced; metrics follow', { timeout: 90_000 }, async () => {
    const r = await receivers();
    const { proxy, env } = await minioBehindProxy();
    const rt = await runtimeWith({
      env,
      overrides: {
        alerts: { ...r.alerts, rules: { primaryDown: { enabled: true, afterSeconds: 0.2 }, cacheBacklog: { enabled: true, maxObjects: 3, maxBytes: 1 << 30 }, diag: { enabled: true, afterSeconds: 0 } } },
        diag: { nasOutageSeconds: 0.3, onSyncFailed: true, leaseLostSeconds: 0 },
      },
    });
    await probe(rt);
    expect((await check(rt)).fired).toEqual([]);

    proxy.cut();
    await until('the primary seen down', async () => ((await probe(rt)) as { primary: string }).primary === 'down');
    for (let i = 0; i < 5; i++) await rt.store.put(`latest/test/alerts/obj-${i}.csv`, `ts\n${i}\n`);
    await until('primary_down, cache_backlog and diag open', async () => {
      await probe(rt);
      const res = await check(rt);
      return ['primary_down', 'cache_backlog', 'diag'].every((k) => rt.local.get(INCIDENTS_SLOT)?.has(k) === true) && res.open >= 3;
    });
    expect(rt.mode.get()).toBe('DIAG');
    expect(diagReasons(rt.context()).map((d) => d.id)).toContain('nas_outage');
    const metricsDown = await rt.metrics.registry.metrics();
    expect(metricsDown).toMatch(/btc_ts_storage_switch_total\{direction="primary_to_secondary"\} 1/);
    expect(metricsDown).toMatch(/btc_ts_alert_open\{rule="primary_down"\} 1/);
    // The status object carries them to `runtime alerts` on the other PC and to the page.
    expect(rt.status.current().alerts?.map((a) => a.key).sort()).toEqual(['cache_backlog', 'diag', 'primary_down']);
    expect((await readIncidents(rt.paths.dataDir)).incidents.map((i) => i.key).sort()).toEqual(['cache_backlog', 'diag', 'primary_down']);
    // Checked again while it lasts: no second fire (dedupe key), no repeat (repeatSeconds 0).
    await check(rt);
    expect(messages(r.json, 'primary_down')).toEqual(['fire']);

    proxy.restore();
    await until('the primary back up', async () => ((await probe(rt)) as { primary: string }).primary === 'up');
    expect(rt.mode.get()).toBe('PROD');
    const synced = (await rt.invoker.invoke('sync', {})) as { ok: boolean; items: number };
    expect(synced.ok).toBe(true);
    await until('every incident resolved', async () => (await check(rt)).open === 0);
    for (const key of ['primary_down', 'cache_backlog', 'diag']) expectFiredAndResolvedOnce(rt, r, key);

    const body = r.json.received.find((m) => m.body.key === 'primary_down')!.body;
    expect(body).toMatchObject({ signal_id: 'btc_ts_alert', kind: 'fire', rule: 'primary_down', host: 'alert-pc' });
    expect(body.summary).toMatch(/primary \(.*\) down for \d+ s \(cause network\)/);
    const metricsUp = await rt.metrics.registry.metrics();
    expect(metricsUp).toMatch(/btc_ts_storage_switch_total\{direction="secondary_to_primary"\} 1/);
    expect(metricsUp).toMatch(/btc_ts_alert_open\{rule="primary_down"\} 0/);
    expect(Number(/btc_ts_sync_items_total (\d+)/.exec(metricsUp)?.[1])).toBeGreaterThanOrEqual(5);
    expect(metricsUp).toMatch(/btc_ts_sync_duration_seconds_count\{result="ok"\} 1/);
    // Every metric family has its HELP line.
    const types = [...metricsUp.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    const helps = new Set([...metricsUp.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]));
    expect(types.filter((t) => !helps.has(t))).toEqual([]);
  });

  it('a sync that fails its last attempt: sync_failed fires once, DIAG until a sync succeeds, then resolves and PROD', { timeout: 90_000 }, async () => {
    const r = await receivers();
    const { proxy, env } = await minioBehindProxy();
    const rt = await runtimeWith({
      env,
      overrides: {
        alerts: { ...r.alerts, rules: { primaryDown: { enabled: true, afterSeconds: 3600 }, diag: { enabled: false, afterSeconds: 0 } } },
        diag: { nasOutageSeconds: 3600, onSyncFailed: true, leaseLostSeconds: 0 },
      },
    });
    // A backlog in the cache: written while the NAS was cut off.
    proxy.cut();
    await until('the primary seen down', async () => ((await probe(rt)) as { primary: string }).primary === 'down');
    for (let i = 0; i < 3; i++) await rt.store.put(`latest/test/sync/obj-${i}.csv`, `ts\n${i}\n`);
    proxy.restore();
    await until('the primary back up', async () => ((await probe(rt)) as { primary: string }).primary === 'up');
    // The link drops again just as sync starts: one attempt per call, and it fails.
    proxy.cut();
    const failed = (await rt.invoker.invoke('sync', { max_attempts: 1, base_delay_ms: 1, max_delay_ms: 1 })) as { ok: boolean; reason?: string };
    expect(failed).toMatchObject({ ok: false, reason: 'unavailable' });
    proxy.restore();
    const res = await check(rt);
    expect(res.fired).toContain('sync_failed');
    expect(rt.mode.get()).toBe('DIAG');
    expect(diagReasons(rt.context()).map((d) => d.id)).toEqual(['sync_failed']);
    expect(messages(r.json, 'sync_failed')).toEqual(['fire']);

    await until('the primary up for sync', async () => ((await probe(rt)) as { primary: string }).primary === 'up');
    await until('a sync that succeeds', async () => ((await rt.invoker.invoke('sync', {})) as { ok: boolean }).ok);
    expect((await check(rt)).resolved).toContain('sync_failed');
    expect(rt.mode.get()).toBe('PROD');
    expectFiredAndResolvedOnce(rt, r, 'sync_failed');
    const enter = rt.audit.recentEvents(200).filter((e) => e.event === 'runtime.diag.enter');
    expect(enter.at(-1)!.payload.reasons).toEqual([expect.objectContaining({ id: 'sync_failed' })]);
    expect(rt.audit.recentEvents(200).some((e) => e.event === 'runtime.diag.exit' && e.payload.cleared === 'sync_failed')).toBe(true);
  });

  it('clock skew: this PC 2 minutes ahead of MinIO fires clock_skew once; back in step it resolves once', { timeout: 60_000 }, async () => {
    const r = await receivers();
    const { env } = await minioBehindProxy();
    // The wall clock of this runtime, shifted by hand: the skew is measured against MinIO's Date headers.
    let shift = 120_000;
    const clock: Clock = { now: () => Date.now() + shift, monotonicMs: () => performance.now(), get wallShiftMs() { return shift; } };
    const rt = await runtimeWith({ env, clock, overrides: { alerts: { ...r.alerts, rules: { clockSkew: { enabled: true, maxSeconds: 30 } } } } });
    await until('clock_skew open', async () => {
      await probe(rt);
      return (await check(rt)).fired.includes('clock_skew') || messages(r.json, 'clock_skew').length > 0;
    });
    shift = 0;
    await until('clock_skew resolved', async () => {
      await probe(rt);
      return (await check(rt)).resolved.includes('clock_skew');
    });
    expectFiredAndResolvedOnce(rt, r, 'clock_skew');
    expect(r.json.received.find((m) => m.body.key === 'clock_skew')!.body.summary).toMatch(/1[12]\d\.\d s ahead of the primary/);
  });

  it('a NAS forecast full within the limit: nas_full fires on the holder only, and resolves once compaction slows the growth', { timeout: 120_000 }, async () => {
    const r = await receivers();
    const primaryDir = tempDir('btc-ts-alerts-nas-');
    const primary = createFsStore({ root: primaryDir });
    // Three closed days of raw trades, as the collector leaves them before compaction.
    const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    let rawBytes = 0;
    for (let d = 3; d >= 1; d--) {
      const stream = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
      for (const seg of segments({ stream, epoch: 1, firstSeq: (3 - d) * 20_000, count: 20_000, perSegment: 1_000, firstTs: today - d * 86_400_000, stepMs: 4_000, firstId: 1_000_000 + (3 - d) * 20_000 })) {
        await primary.put(seg.key, seg.body);
        rawBytes += seg.body.length;
      }
    }
    const perDay = rawBytes / 3;
    // Room for about five more days at the raw growth; the rule's limit is 20 days.
    const capacityBytes = Math.round(rawBytes + 5 * perDay);
    const rt = await runtimeWith({
      env: { BTC_TS_FS_PRIMARY_DIR: primaryDir },
      // No grace after midnight: with the default 30 minutes, a run between 00:00 and 00:30 UTC saw yesterday as still open (2 days, not 3).
      overrides: { storage: { capacityBytes }, compaction: { graceMinutes: 0 }, alerts: { ...r.alerts, rules: { nasFull: { enabled: true, withinDays: 20, measureEverySeconds: 3600 } } } },
    });
    // Not the lease holder: the bucket is the holder's to measure.
    expect((await check(rt)).evaluated).not.toContain('nas_full');
    Object.assign(rt.lease, { holder: true, epoch: 1, leaderHost: 'alert-pc', since: Date.now() });
    expect((await check(rt)).fired).toEqual(['nas_full']);
    const fire = r.json.received.find((m) => m.body.key === 'nas_full')!.body;
    expect(fire.summary).toMatch(/forecast full on \d{4}-\d{2}-\d{2}, in 5\.\d days \(limit 20\)/);
    // Within measureEverySeconds the listing is not repeated: still open, nothing new sent.
    expect(await check(rt)).toMatchObject({ fired: [], resolved: [], open: 1 });
    // Compaction: each day now keeps a Parquet object a fraction of its raw size, so the growth
    // the forecast divides by falls; the compact run's own listing is newer than the rule's.
    const compacted = (await rt.invoker.invoke('compact', {})) as { ok: boolean; days: unknown[]; capacity: { days_until_full: number } };
    expect(compacted.ok).toBe(true);
    expect(compacted.days).toHaveLength(3);
    expect(compacted.capacity.days_until_full).toBeGreaterThan(20);
    expect((await check(rt)).resolved).toEqual(['nas_full']);
    expectFiredAndResolvedOnce(rt, r, 'nas_full');
  });

  it('a small disk filling up: disk_free fires once, repeats while it lasts, survives a restart without a second fire, resolves once when space is back', { timeout: 60_000 }, async () => {
    const r = await receivers();
    const dataDir = smallDisk(16 * 2 ** 20);
    const primaryDir = tempDir('btc-ts-alerts-nas-');
    const rt = await runtimeWith({
      dataDir,
      env: { BTC_TS_FS_PRIMARY_DIR: primaryDir },
      overrides: { alerts: { ...r.alerts, repeatSeconds: 0.5, rules: { diskFree: { enabled: true, minBytes: 8 * 2 ** 20 } } } },
    });
    expect((await check(rt)).fired).toEqual([]);
    const free = (await diskSpace(dataDir))!.free_bytes;
    const filler = path.join(dataDir, 'filler.bin');
    writeFileSync(filler, Buffer.alloc(Math.max(0, free - 4 * 2 ** 20)));
    expect((await check(rt)).fired).toEqual(['disk_free']);
    await new Promise((res) => setTimeout(res, 600));
    expect((await check(rt)).repeated).toEqual(['disk_free']);
    // A restart while it lasts: the incident is still open (local file), it does not fire a second time.
    await rt.shutdown();
    const again = await runtimeWith({ dataDir, env: { BTC_TS_FS_PRIMARY_DIR: primaryDir }, overrides: { alerts: { ...r.alerts, repeatSeconds: 3600, rules: { diskFree: { enabled: true, minBytes: 8 * 2 ** 20 } } } } });
    const afterRestart = await check(again);
    expect(afterRestart).toMatchObject({ open: 1, fired: [], repeated: [] });
    rmSync(filler);
    expect((await check(again)).resolved).toEqual(['disk_free']);
    expect(messages(r.json, 'disk_free')).toEqual(['fire', 'repeat', 'resolve']);
    expect(slackTexts(r.slack, 'disk_free').map((t) => t.split(']')[0])).toEqual(['[FIRING', '[STILL FIRING', '[RESOLVED']);
    expect(audited(rt, 'alert.fire', 'disk_free')).toHaveLength(1);
    expect(audited(again, 'alert.fire', 'disk_free')).toHaveLength(0);
    expect(audited(again, 'alert.resolve', 'disk_free')).toHaveLength(1);
    // Latency in the same CSV as the rollback alert, one row per attempt, URLs redacted; a log line per webhook.
    const csv = readFileSync(path.join(dataDir, 'logs', 'ops', 'state_alert_latency.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('ts,signal_id,strategy,symbol,mode,url,attempt,outcome,http_status,latency_ms,error');
    const rows = csv.slice(1).map((l) => l.split(','));
    expect(rows.map((c) => `${c[1]} ${c[3]} ${c[4]} ${c[7]} ${c[8]}`)).toEqual(
      ['fire', 'fire', 'repeat', 'repeat', 'resolve', 'resolve'].map((kind) => `alert.disk_free disk_free ${kind} ok 200`),
    );
    expect(rows.every((c) => /^http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8}$/.test(c[5]!) && Number(c[9]) >= 0)).toBe(true);
    const log = readFileSync(path.join(dataDir, 'logs', 'state_alerts.log'), 'utf8');
    expect(log.match(/signal_id=alert\.disk_free kind=fire key=disk_free host=alert-pc status=sent/g)).toHaveLength(2);
    expect(csv.join('\n') + log).not.toContain('secret-token');
  });

  it('emulator faults: a failing stream fires stream_stale once and an unfillable trade gap fires gap once; both resolve once', { timeout: 120_000 }, async () => {
    const r = await receivers();
    const emulator: Emulator = await startEmulator({ port: 0, seed: 11, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === 'BTC/USDT').map((s) => ({ ...s, tradesPerSecond: 30 })) });
    cleanups.push(() => emulator.stop());
    const rt = await runtimeWith({
      env: { BTC_TS_EXCHANGE_URL: emulator.url },
      overrides: {
        collector: {
          tickSeconds: 1,
          streamTimeoutMs: 3_000,
          diagAfterFailures: 1000,
          streams: [
            { exchange: 'binance', topic: 'ticker', symbols: ['BTC/USDT'] },
            { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] },
          ],
        },
        alerts: { ...r.alerts, rules: { streamStale: { enabled: true, afterSeconds: 4 }, gaps: { enabled: true, quietSeconds: 3 } } },
      },
    });
    const tick = () => rt.invoker.invoke('collect-tick', {});
    // Not the lease holder: cluster rules are not evaluated here (the holder does them).
    expect((await check(rt)).evaluated).not.toContain('stream_stale');
    Object.assign(rt.lease, { holder: true, epoch: 1, leaderHost: 'alert-pc', since: Date.now() });
    await tick();
    expect((await check(rt)).evaluated).toEqual(expect.arrayContaining(['stream_stale', 'gap']));

    // The ticker endpoint answers 503 from now on.
    emulator.faults.set({ serverError: { status: 503, ratio: 1 }, endpoints: ['ticker/24hr', 'ticker/price', 'ticker/bookTicker'] });
    const stale = 'stream_stale/binance/ticker/BTC-USDT';
    await until('stream_stale open', async () => {
      await tick();
      return (await check(rt)).fired.includes(stale) || messages(r.json, stale).length > 0;
    });
    emulator.faults.clear();
    await until('stream_stale resolved', async () => {
      await tick();
      return (await check(rt)).resolved.includes(stale);
    });
    expectFiredAndResolvedOnce(rt, r, stale);
    expect(messages(r.json, 'stream_stale/binance/trades/BTC-USDT')).toEqual([]);

    // Trades lost for good: the gap is back-filled 5 times, then reported unfillable.
    emulator.faults.set({ dropTrades: { ratio: 0.2, permanent: true }, endpoints: ['aggTrades'] });
    await until('an unfillable gap', async () => {
      await tick();
      return rt.audit.recentEvents(200).some((e) => e.event === 'collector.gap.unfillable');
    }, 60_000);
    emulator.faults.clear();
    const gap = 'gap/binance/trades/BTC-USDT';
    // Ticks go on until every gap left open is settled (filled or unfillable), so the quiet time can start.
    await until('gap open and no new gap event', async () => {
      await tick();
      await check(rt);
      const last = rt.audit.recentEvents(200).find((e) => e.event.startsWith('collector.gap.'));
      return messages(r.json, gap).length === 1 && last !== undefined && Date.now() - last.ts > 200;
    }, 60_000);
    await until('gap resolved after the quiet time', async () => (await check(rt)).resolved.includes(gap), 30_000);
    expectFiredAndResolvedOnce(rt, r, gap);
    expect(r.json.received.find((m) => m.body.key === gap)!.body.summary).toMatch(/^unfillable trade gap in binance\/trades\/BTC-USDT: ids \d+–\d+/);
  });

  it('lease taken over from a stalled holder: lease_change fires once on the new holder and once (overlap) on the old one; the old one is DIAG for a while, then PROD', { timeout: 60_000 }, async () => {
    const r = await receivers();
    const { runtimeOn, tempDir: leaseTemp, dispose } = leaseRuntimes({ leaseSeconds: 30, heartbeatSeconds: 5 });
    cleanups.push(dispose);
    const primary = createFsStore({ root: leaseTemp() });
    const env = { SIGNAL_WEBHOOK_URLS: (r.alerts.webhookUrls as string[]).join(',') };
    const a = await runtimeOn(primary, 'pc-a', { env });
    const b = await runtimeOn(primary, 'pc-b', { env });
    expect((await a.beat()).action).toBe('acquired');
    expect((await b.beat()).action).toBe('following');
    expect((await check(a.runtime)).fired).toEqual([]);
    // pc-a stalls; pc-b sees the lease unchanged for a whole lease and takes it.
    b.clock.advance(31_000);
    expect((await b.beat()).action).toBe('acquired');
    expect((await check(b.runtime)).fired).toEqual(['lease_change']);
    // pc-a wakes up: its renew is refused, it steps down and reports the overlap.
    a.clock.advance(31_000);
    expect((await a.beat()).action).toBe('stepped_down');
    expect((await check(a.runtime)).fired).toEqual(['lease_change']);
    expect(a.runtime.mode.get()).toBe('DIAG');
    expect(diagReasons(a.runtime.context()).map((d) => d.id)).toEqual(['lease_lost']);
    // Quiet for alerts.rules.leaseChange.quietSeconds (900 s by default), past diag.leaseLostSeconds (300 s).
    a.clock.advance(901_000);
    b.clock.advance(901_000);
    expect((await check(a.runtime)).resolved).toEqual(['lease_change']);
    expect(a.runtime.mode.get()).toBe('PROD');
    expect((await check(b.runtime)).resolved).toEqual(['lease_change']);

    const fromB = r.json.received.filter((m) => m.body.key === 'lease_change' && m.body.host === 'pc-b').map((m) => m.body);
    const fromA = r.json.received.filter((m) => m.body.key === 'lease_change' && m.body.host === 'pc-a').map((m) => m.body);
    expect(fromB.map((m) => m.kind)).toEqual(['fire', 'resolve']);
    expect(fromB[0].summary).toMatch(/^lease changed hands: pc-a \(epoch 1\) → pc-b \(epoch 2\)/);
    expect(fromA.map((m) => m.kind)).toEqual(['fire', 'resolve']);
    expect(fromA[0].summary).toMatch(/^overlap reported: pc-a \(epoch 1\) and pc-b \(epoch 2\)/);
    expect(await b.runtime.metrics.registry.metrics()).toMatch(/btc_ts_leader_changes_total 1/);
  });
});

/**
 * A data directory on a file system of `bytes`: a tmpfs mounted for this test (root on Linux),
 * unmounted in the cleanup. Elsewhere the test cannot make a small disk and fails loudly.
 */
function smallDisk(bytes: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-alerts-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
  cleanups.push(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  return dir;
}

describe('webhook body formats', () => {
  const m = { kind: 'fire' as const, rule: 'disk_free', key: 'disk_free', host: 'pc-a', site: 'desk', summary: 'low', since: '2026-01-01T00:00:00.000Z', at: '2026-01-01T00:01:00.000Z' };
  it('picks the format by host: configured first, then Slack and Discord by their hosts, else the generic JSON', () => {
    expect(formatOf('https://hooks.slack.com/services/T/B/x', {})).toBe('slack');
    expect(formatOf('https://discord.com/api/webhooks/1/x', {})).toBe('discord');
    expect(formatOf('https://chat.example.com/hooks/x', {})).toBe('json');
    expect(formatOf('https://chat.example.com/hooks/x', { 'chat.example.com': 'slack' })).toBe('slack');
    expect(formatOf('http://127.0.0.1:9/x', { '127.0.0.1:9': 'discord' })).toBe('discord');
    expect(formatOf('not a url', {})).toBe('json');
  });
  it('Slack gets { text }, Discord { content } under 2000 characters, JSON the whole message', () => {
    expect(JSON.parse(bodyFor('slack', m))).toEqual({ text: '[FIRING] btc-ts desk/pc-a disk_free: low (since 2026-01-01T00:00:00.000Z, key disk_free)' });
    const long = JSON.parse(bodyFor('discord', { ...m, summary: 'x'.repeat(5000) })) as { content: string };
    expect(long.content.length).toBeLessThan(2000);
    expect(JSON.parse(bodyFor('json', m))).toEqual({ signal_id: 'btc_ts_alert', ...m, details: {} });
  });
});
