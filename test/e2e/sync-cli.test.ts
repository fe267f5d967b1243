// test/e2e/sync-cli.test.ts
// `runtime sync` as a real process: --dry-run says "would copy" and copies nothing; Ctrl-C stops cleanly, says what is left, audits it, exits 130.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, inject, it } from 'vitest';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { runCli } from '../helpers/run-cli.ts';
import { BTC, freshBucket, readAuditEvents, runtimeEnv, segmentBody, sleep, writeIntoDir } from '../helpers/sync-fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LATEST = 'latest/binance/trades/BTC-USDT.csv';

/** A cache holding `segments` raw segments of one stream and one latest CSV. */
function backlog(segments: number): { dataDir: string; cacheDir: string } {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-sync-cli-'));
  const cacheDir = path.join(dataDir, 'cache');
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < segments; i++) {
    const seg = segmentBody(BTC, 5, i * 5, 5, t0 + i * 1_000, 200);
    writeIntoDir(cacheDir, seg.key, seg.body);
  }
  writeIntoDir(cacheDir, LATEST, Buffer.from(`ts,price\n${t0 + segments * 1_000},1\n`));
  return { dataDir, cacheDir };
}

it('sync --dry-run reports what it would copy and copies nothing', { timeout: 60_000 }, async () => {
  const target = await freshBucket(inject('minio'), 'drycli');
  const { dataDir, cacheDir } = backlog(12);
  try {
    const run = await runCli(['sync', '--dry-run'], runtimeEnv(target, dataDir));
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { dry_run: boolean; would_copy: { items: number; bytes: number }; atomic: Record<string, number>; uploaded: number };
    expect(summary.dry_run).toBe(true);
    expect(summary.would_copy.items).toBe(13);
    expect(summary.would_copy.bytes).toBeGreaterThan(0);
    expect(summary.atomic).toEqual({ copied: 0, same: 0, primary_newer: 0, would_copy: 1 });
    expect(summary.uploaded).toBe(0);
    expect(run.stderr).toContain('dry run: would copy 13 of 13 item(s)');
    expect(run.stderr).not.toMatch(/\bcopied\b/);
    const primary = createS3Store({ endpoint: target.endpoint, bucket: target.bucket, accessKeyId: target.accessKey, secretAccessKey: target.secretKey });
    expect(await listKeys(primary, 'raw/')).toEqual([]);
    expect(await listKeys(primary, 'latest/')).toEqual([]);
    expect(await listKeys(createFsStore({ root: cacheDir }), 'raw/')).toHaveLength(12);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

it('Ctrl-C during sync ends the run cleanly: what was done and what remains, an aborted audit event, exit 130', { timeout: 180_000 }, async () => {
  const SEGMENTS = 2_000;
  const target = await freshBucket(inject('minio'), 'sigint');
  const { dataDir, cacheDir } = backlog(SEGMENTS);
  const primary = createS3Store({ endpoint: target.endpoint, bucket: target.bucket, accessKeyId: target.accessKey, secretAccessKey: target.secretKey });
  const cache = createFsStore({ root: cacheDir });
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'sync', '--concurrency', '2'], {
    cwd: ROOT,
    env: { ...process.env, ...runtimeEnv(target, dataDir), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // The event to wait for: the first uploads have landed in the primary (the bar is not drawn off a TTY).
    for (let i = 0; i < 600 && child.exitCode === null; i++) {
      if ((await listKeys(primary, 'raw/')).length >= 20) break;
      await sleep(100);
    }
    expect(child.exitCode, stderr).toBe(null);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);

    const summary = JSON.parse(stdout) as { ok: boolean; reason: string; items: number; plan: { items: number }; pending: boolean };
    expect(summary).toMatchObject({ ok: false, reason: 'aborted', pending: true, plan: { items: SEGMENTS + 1 } });
    expect(summary.items).toBeGreaterThan(0);
    expect(summary.items).toBeLessThan(SEGMENTS);
    const remaining = SEGMENTS + 1 - summary.items;
    expect(stderr).toContain('SIGINT: stopping after the uploads in flight');
    expect(stderr).toContain(`interrupted: copied ${summary.items} of ${SEGMENTS + 1} item(s)`);
    expect(stderr).toContain(`${remaining} item(s) remain in the cache`);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    // What it says remains is what the cache holds.
    const left = (await listKeys(cache, 'raw/')).length + (await listKeys(cache, 'latest/')).length;
    expect(left).toBe(remaining);

    const aborted = (await readAuditEvents(primary)).find((e) => e.event === 'collector.sync.failed');
    expect(aborted?.payload).toMatchObject({ reason: 'aborted', items: summary.items, dry_run: false });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
});
