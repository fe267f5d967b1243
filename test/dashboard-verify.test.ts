// test/dashboard-verify.test.ts
// `runtime dashboard verify` against a real MinIO: healthy chain passes; stale heartbeat, wrong checksum,
// missing sequence number and missing secret each fail; the CLI's exit codes and JSON.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import { loadSchedules } from '../runtime/registry.ts';
import type { Runtime } from '../runtime/context.ts';
import { runDashboardExport } from '../runtime/dashboard-export/export.ts';
import { verifyChain, type VerifyOptions } from '../runtime/dashboard-export/verify.ts';
import { dashboardWorld, getJson, putRaw, type DashboardWorld } from './helpers/dashboard.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NOW = Date.UTC(2026, 1, 1, 12);
const H = 3_600_000;
const SECRET_VALUE = 'hunter2-obs-webhook-secret';

describe('dashboard verify', () => {
  let world: DashboardWorld;
  let rt: Runtime & { dir: string };
  let clock: ReturnType<typeof manualClock>;
  const verify = (over: Partial<VerifyOptions> = {}) =>
    verifyChain(world.store, {
      now: clock.now(),
      maxHeartbeatAgeMs: 6 * H,
      expectedDatasets: ['ev_history', 'slippage', 'turnover', 'latency'],
      secrets: ['OBS_WEBHOOK_SECRET'],
      env: { OBS_WEBHOOK_SECRET: SECRET_VALUE },
      ...over,
    });
  const exportNow = async () => {
    const summary = await runDashboardExport(rt.context(), { historyWeeks: 8 });
    expect(summary.status, JSON.stringify(summary.errors)).toBe('ok');
    return summary;
  };

  beforeAll(async () => {
    world = await dashboardWorld();
    clock = manualClock(NOW);
    rt = await world.runtime('verify-pc', clock);
    await putRaw(world.store, { exchange: 'emu', topic: 'trades', symbol: 'BTC/USDT' }, 1, 0, [
      { ts: NOW - H, ingest_ts: NOW - H + 20, data: { id: '1', timestamp: NOW - H, price: 100, amount: 1, cost: 100, side: 'buy' } },
    ]);
  });
  afterAll(() => world.dispose());

  it('fails on an empty store, passes on a healthy chain', async () => {
    const empty = await verify();
    expect(empty.status).toBe('failed');
    expect(empty.failures.map((f) => f.code).sort()).toEqual(['heartbeat_missing', 'log_empty', 'manifest_missing']);
    await exportNow();
    clock.advance(H);
    await exportNow();
    const healthy = await verify();
    expect(healthy).toMatchObject({ status: 'ok', failures: [], warnings: [], summary: { log_entries: 2, last_sequence: 2, manifest_sequence: 2 } });
  });

  it('fails on a heartbeat older than the limit', async () => {
    clock.advance(7 * H);
    const stale = await verify();
    expect(stale.status).toBe('failed');
    expect(new Set(stale.failures.map((f) => f.code))).toEqual(new Set(['heartbeat_stale']));
    expect(await verify({ maxHeartbeatAgeMs: 8 * H })).toMatchObject({ status: 'ok' });
    await exportNow();
  });

  it('fails on a dataset whose bytes no longer match the manifest checksum', async () => {
    const good = await world.store.get('dashboard/turnover.json');
    await world.store.put('dashboard/turnover.json', good.body.toString().replace('"trades":1', '"trades":2'));
    const report = await verify();
    expect(report.failures).toEqual([expect.objectContaining({ check: 'manifest', code: 'checksum_mismatch', dataset: 'turnover' })]);
    await world.store.put('dashboard/turnover.json', good.body);
    expect((await verify()).status).toBe('ok');
  });

  it('fails on a missing sequence number; the next run reports the gap with a warning entry', async () => {
    const before = await verify();
    const last = before.summary.last_sequence!;
    await world.store.delete(`dashboard/automation_log/${String(last - 1).padStart(12, '0')}.json`);
    const gap = await verify();
    expect(gap.failures).toEqual([expect.objectContaining({ code: 'sequence_gap', missing: [last - 1] })]);

    clock.advance(H);
    const next = await exportNow();
    expect(next.automation_log).toEqual({ warning_sequence: last + 1, sequence: last + 2 });
    const warning = await getJson(world.store, `dashboard/automation_log/${String(last + 1).padStart(12, '0')}.json`);
    expect(warning).toMatchObject({ status: 'warning', diagnostics: { error_code: 'sequence_gap', missing: [last - 1] } });
    const after = await verify();
    expect(after.status).toBe('ok');
    expect(after.warnings).toEqual([expect.objectContaining({ code: 'sequence_gap_reported', missing: [last - 1] })]);
    // The same gap is not reported twice.
    clock.advance(H);
    expect((await exportNow()).automation_log?.warning_sequence).toBeNull();
  });

  it('fails on a missing secret and reports only its name', async () => {
    const report = await verify({ secrets: ['OBS_WEBHOOK_SECRET', 'OBS_WEEKLY_WEBHOOK_URL'] });
    expect(report.failures).toEqual([expect.objectContaining({ check: 'secrets', code: 'secret_missing', name: 'OBS_WEEKLY_WEBHOOK_URL' })]);
    expect(JSON.stringify(report)).not.toContain(SECRET_VALUE);
  });

  it('the manifest sequence never goes back: a deleted or corrupt manifest continues above the history and log; verify fails on a rollback', async () => {
    const before = (await getJson(world.store, 'dashboard/manifest.json')).sequence as number;
    await world.store.delete('dashboard/manifest.json');
    clock.advance(H);
    expect((await exportNow()).sequence).toBe(before + 1);
    await world.store.put('dashboard/manifest.json', '{"version": 1, "sequ');
    clock.advance(H);
    expect((await exportNow()).sequence).toBe(before + 2);
    expect((await verify()).status).toBe('ok');

    // An older manifest put back (a restore from backup): every number above it was issued already.
    clock.advance(H);
    const older = await world.store.get(`dashboard/history/${(await exportNow()).job_id}/manifest.json`);
    const rolledBack = { ...JSON.parse(older.body.toString('utf8')), sequence: 1 };
    const current = await world.store.get('dashboard/manifest.json');
    await world.store.put('dashboard/manifest.json', JSON.stringify(rolledBack));
    const report = await verify();
    expect(report.failures).toEqual([expect.objectContaining({ check: 'manifest', code: 'sequence_regressed', sequence: 1, highest: before + 3 })]);
    await world.store.put('dashboard/manifest.json', current.body);
    expect((await verify()).status).toBe('ok');
  });

  it('the nightly verify is scheduled on the holder, logs itself as dashboard-verify, tolerates a late export, and its own failure does not fail the next night', async () => {
    const schedule = (await loadSchedules(rt.functions)).find((s) => s.fn === 'dashboard-verify');
    expect(schedule).toMatchObject({ cron: expect.any(String), timezone: 'Etc/UTC' });
    expect(schedule!.when!({ ...rt.context(), lease: { ...rt.lease, holder: true } })).toBe(true);
    expect(schedule!.when!({ ...rt.context(), lease: { ...rt.lease, holder: false, leaderHost: 'other-pc' } })).toBe(false);

    clock.advance(H);
    await exportNow();
    const entryOf = (r: any) => getJson(world.store, `dashboard/automation_log/${String(r.automation_log.sequence).padStart(12, '0')}.json`);
    // 6 h 10 min after a 6-hourly export: late, within the grace (one period + a quarter).
    clock.advance(6 * H + 10 * 60_000);
    const late = (await rt.invoker.invoke('dashboard-verify', {}, 'cron')) as any;
    expect(late).toMatchObject({ status: 'ok', failures: [] });
    expect(await entryOf(late)).toMatchObject({ job_name: 'dashboard-verify', status: 'ok', host: 'verify-pc' });
    // 8 h: stale, and the failed run is in the log with its code.
    clock.advance(2 * H);
    const stale = (await rt.invoker.invoke('dashboard-verify', {}, 'cron')) as any;
    expect(stale.status).toBe('failed');
    expect(new Set(stale.failures.map((f: any) => f.code))).toEqual(new Set(['heartbeat_stale']));
    expect(await entryOf(stale)).toMatchObject({ job_name: 'dashboard-verify', status: 'error', diagnostics: { error_code: 'heartbeat_stale' } });
    expect(readFileSync(path.join(rt.dir, 'logs', 'automation_runs.log'), 'utf8')).toContain('"job_name":"dashboard-verify"');
    // The export catches up: the next verify passes although the last verify entry is an error.
    await exportNow();
    const next = (await rt.invoker.invoke('dashboard-verify', {}, 'cron')) as any;
    expect(next).toMatchObject({ status: 'ok', failures: [] });
  });

  it('the CLI: verify exit 0 on the healthy chain and 1 with a missing secret; export with a failing upload exits 1', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-dash-cli-'));
    try {
      const env = { ...process.env, ...world.env, BTC_TS_HOST: 'cli-pc', BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_MODE: 'PROD', OBS_WEBHOOK_SECRET: SECRET_VALUE };
      const run = (args: string[]) =>
        promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), ...args], { cwd: ROOT, env, timeout: 60_000 }).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
        );
      // The CLI uses the real clock: export now so the heartbeat is fresh for it.
      const exported = await run(['dashboard', 'export', '--dataset', 'turnover', '--dataset', 'latency', '--job-id', 'cli-export', '--json-out', path.join(dir, 'summary.json')]);
      expect(exported.code, exported.stdout).toBe(0);
      expect(JSON.parse(exported.stdout)).toMatchObject({ status: 'ok', job_id: 'cli-export' });
      const ok = await run(['dashboard', 'verify', '--expected-dataset', 'turnover', '--expected-dataset', 'latency', '--secret', 'OBS_WEBHOOK_SECRET']);
      expect(ok.code, ok.stdout).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'ok', failures: [] });
      const missing = await run(['dashboard', 'verify', '--expected-dataset', 'turnover', '--secret', 'OBS_WEBHOOK_SECRET', '--secret', 'OBS_NOT_SET_ANYWHERE']);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout).failures).toEqual([expect.objectContaining({ code: 'secret_missing', name: 'OBS_NOT_SET_ANYWHERE' })]);
      expect(missing.stdout).not.toContain(SECRET_VALUE);
      const upload = await run(['dashboard', 'export', '--dataset', 'turnover', '--upload-command', 'exit 7']);
      expect(upload.code).toBe(1);
      expect(JSON.parse(upload.stdout)).toMatchObject({ status: 'error', error_code: 'upload_failed', upload: { exit_code: 7 } });
      const afterFailure = await run(['dashboard', 'verify', '--expected-dataset', 'turnover']);
      expect(afterFailure.code).toBe(1);
      expect(JSON.parse(afterFailure.stdout).failures).toEqual([expect.objectContaining({ code: 'last_run_failed', error_code: 'upload_failed' })]);
      expect((await run(['dashboard', 'export', '--dataset', 'nope'])).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
