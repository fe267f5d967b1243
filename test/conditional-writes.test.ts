// test/conditional-writes.test.ts
// The conditional-write probe against the real MinIO (passes) and a real S3 server that ignores If-None-Match / If-Match (s3rver): whatif fails, a runtime stays DEBUG and says why.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { guardConditionalWrites } from '../runtime/conditional-writes.ts';
import { createRuntime } from '../runtime/context.ts';
import { createApp } from '../runtime/http/app.ts';
import { silentLogger } from '../runtime/logger.ts';
import { BEHAVIOUR, conditionalWritesSummary, probeConditionalWrites } from '../runtime/store/capabilities.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys } from '../runtime/store/types.ts';
import { runCli } from './helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';
import { startWeakS3, type WeakS3Server } from './helpers/s3rver.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { conditionalWritesKey } from '../runtime/keys.ts';

const PROBE_TIMEOUT_MS = 10_000;
/** The three behaviours s3rver lacks, in the order the probe tries them. */
const S3RVER_MISSING = [BEHAVIOUR.createOnly, BEHAVIOUR.swapWrongEtag, BEHAVIOUR.swapMissingKey];

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function weakS3(): Promise<WeakS3Server> {
  const server = await startWeakS3();
  cleanups.push(() => server.dispose());
  return server;
}

function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-cas-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function s3Env(server: { endpoint: string; bucket: string; accessKey: string; secretKey: string }, dir: string): Record<string, string> {
  return {
    BTC_TS_HOST: 'cas-pc',
    BTC_TS_DATA_DIR: dir,
    BTC_TS_LOGS_DIR: path.join(dir, 'logs'),
    BTC_TS_S3_ENDPOINT: server.endpoint,
    BTC_TS_S3_BUCKET: server.bucket,
    BTC_TS_S3_ACCESS_KEY: server.accessKey,
    BTC_TS_S3_SECRET_KEY: server.secretKey,
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('conditional-write probe (store level)', () => {
  it('passes against the real MinIO and the directory store, and leaves no probe key behind', async () => {
    const m = inject('minio');
    const minio = createS3Store({ endpoint: m.endpoint, bucket: m.bucket, accessKeyId: m.accessKey, secretAccessKey: m.secretKey });
    const fs = createFsStore({ root: tmpDir() });
    for (const store of [minio, fs]) {
      const report = await probeConditionalWrites(store, 'cas-ok', Date.now(), PROBE_TIMEOUT_MS);
      expect(report, store.describe).toMatchObject({ ok: true, missing: [] });
      expect(conditionalWritesSummary(report)).toBe('ok');
      expect(await store.head(conditionalWritesKey('cas-ok'))).toBeNull();
    }
  });

  it('fails against s3rver (a real S3 server that ignores conditional PUTs), naming each missing behaviour, and cleans up', async () => {
    const server = await weakS3();
    const store = createS3Store({ endpoint: server.endpoint, bucket: server.bucket, accessKeyId: server.accessKey, secretAccessKey: server.secretKey, maxAttempts: 1 });
    const report = await probeConditionalWrites(store, 'cas-weak', Date.now(), PROBE_TIMEOUT_MS);
    expect(report.ok).toBe(false);
    expect(report.error).toBeUndefined();
    expect(report.missing.map((m) => m.behaviour)).toEqual(S3RVER_MISSING);
    expect(report.missing[0]!.answer).toBe('a second create was accepted (want 412)');
    expect(report.missing[2]!.answer).toContain('created the object');
    expect(conditionalWritesSummary(report)).toBe(`missing: ${S3RVER_MISSING.join(', ')}`);
    expect(await listKeys(store, 'health/')).toEqual([]);
  });

  it('an unreachable store is "unknown", never "missing"', async () => {
    const server = await startWeakS3();
    const endpoint = server.endpoint;
    await server.dispose(); // the port is closed now: connection refused
    const store = createS3Store({ endpoint, bucket: 'btc-ts', accessKeyId: 'x', secretAccessKey: 'y', maxAttempts: 1 });
    const report = await probeConditionalWrites(store, 'cas-gone', Date.now(), PROBE_TIMEOUT_MS);
    expect(report).toMatchObject({ ok: false, missing: [] });
    expect(conditionalWritesSummary(report)).toMatch(/^unknown: store unreachable/);
  });
});

describe('a primary without conditional writes (real processes against s3rver)', () => {
  it('runtime whatif fails the "conditional writes" check naming the missing behaviours, exit 1', async () => {
    const server = await weakS3();
    const env = s3Env(server, tmpDir());
    const run = await runCli(['whatif', '--json'], env);
    expect(run.code, run.stderr).toBe(1);
    const { checks } = JSON.parse(run.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> };
    const failed = checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.check)).toEqual(['conditional writes']);
    for (const behaviour of S3RVER_MISSING) expect(failed[0]!.detail).toContain(behaviour);
    expect(failed[0]!.detail).toContain('stays DEBUG');
    expect(run.stdout + run.stderr).not.toContain(server.secretKey + '"');
  });

  it('runtime start stays DEBUG, never takes the lease, writes no raw segment, and /health and the page say why', { timeout: 120_000 }, async () => {
    const server = await weakS3();
    const dir = tmpDir();
    // Short periods: this runtime must never take the lease at all, so no lease of its own can lapse under load.
    const env = { ...s3Env(server, dir), BTC_TS_HEARTBEAT_SECONDS: '0.25', BTC_TS_LEASE_SECONDS: '1.5', BTC_TS_PROBE_SECONDS: '0.25' };
    // --demo: streams from the bundled emulator, so a runtime that went PROD would collect within a tick.
    const rt: RuntimeProcess = await spawnRuntime({ host: 'cas-pc', env, args: ['--demo'], dataDir: dir });
    cleanups.push(() => rt.stop());
    type Health = { mode: string; leader: { self: boolean; epoch: number; host: string | null }; storage: { conditional_writes: string } };
    const health = await waitFor('/health to name the missing behaviours', async () => {
      const h = await rt.get<Health>('/health');
      return h.storage.conditional_writes.startsWith('missing') ? h : null;
    }, 30_000);
    expect(health.storage.conditional_writes).toBe(`missing: ${S3RVER_MISSING.join(', ')}`);
    // Time passes by the runtime's own duties: 20 storage probes at 0.25 s are ≥ 5 s, 20 heartbeat periods and three lease periods.
    await waitFor('20 storage-probe runs', async () => {
      const metrics = await fetch(`${rt.url}/metrics`).then((r) => r.text());
      const runs = /btc_ts_function_runs_total\{fn="storage-probe",source="cron",result="ok"\} (\d+)/.exec(metrics);
      return runs && Number(runs[1]) >= 20;
    }, 60_000);
    const after = await rt.get<Health>('/health');
    expect(after.mode).toBe('DEBUG');
    expect(after.leader).toMatchObject({ self: false, epoch: 0, host: null });
    const store = createS3Store({ endpoint: server.endpoint, bucket: server.bucket, accessKeyId: server.accessKey, secretAccessKey: server.secretKey });
    expect(await store.head('locks/collector.leader')).toBeNull();
    expect(await listKeys(store, 'raw/')).toEqual([]);
    expect(await listKeys(createFsStore({ root: path.join(dir, 'cache') }), 'raw/').catch(() => [])).toEqual([]);
    const page = await fetch(`${rt.url}/`).then((r) => r.text());
    expect(page).toContain('data-testid="conditional-writes"');
    expect(page).toContain(BEHAVIOUR.createOnly);
    expect(rt.output()).toContain('conditional writes');
  });
});

describe('a primary that comes back without conditional writes while collecting', () => {
  it('PROD holder: after the switch back it goes DEBUG, releases the lease and /health says why', { timeout: 60_000 }, async () => {
    const server = await weakS3();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.endpoint).port) });
    cleanups.push(() => proxy.close());
    const env = { ...s3Env({ ...server, endpoint: proxy.url }, tmpDir()), BTC_TS_MODE: 'PROD' };
    const runtime = await createRuntime(loadConfig({ env }), { log: silentLogger(), schedules: [] });
    cleanups.push(() => runtime.shutdown());
    let steppedDown = false;
    guardConditionalWrites(runtime, { onSteppedDown: () => void (steppedDown = true) });
    // Forced PROD skips preflight (the operator's choice); this store lets the acquire through.
    expect(await runtime.invoker.invoke('leader-heartbeat', {})).toMatchObject({ action: 'acquired', holder: true });

    proxy.cut();
    await waitFor('the switch to the cache', async () => runtime.store.recordProbe(await runtime.store.probePrimary())?.to === 'secondary', 30_000);
    proxy.restore();
    await waitFor('the switch back to the primary', async () => runtime.store.recordProbe(await runtime.store.probePrimary())?.to === 'primary', 30_000);
    await waitFor('the step-down', async () => steppedDown, 30_000);

    expect(runtime.mode.get()).toBe('DEBUG');
    expect(runtime.lease.holder).toBe(false);
    const store = createS3Store({ endpoint: server.endpoint, bucket: server.bucket, accessKeyId: server.accessKey, secretAccessKey: server.secretKey });
    const lease = JSON.parse((await store.get('locks/collector.leader')).body.toString()) as { released?: boolean };
    expect(lease.released).toBe(true);
    const health = (await (await createApp(runtime).request('/health')).json()) as { mode: string; storage: { conditional_writes: string } };
    expect(health).toMatchObject({ mode: 'DEBUG', storage: { conditional_writes: `missing: ${S3RVER_MISSING.join(', ')}` } });
  });
});
