// test/preflight-access.test.ts
// A wrong S3 key pair against the real MinIO: one preflight failure saying which keys to check, the page's Runtime card and Storage cause.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { createApp } from '../runtime/http/app.ts';
import { mountUi } from '../runtime/http/ui.ts';
import { silentLogger } from '../runtime/logger.ts';
import { runPreflight } from '../runtime/preflight.ts';
import { ACCESS_DENIED_HINT, refusalError } from '../runtime/store/s3-put.ts';
import { storeErrorCause } from '../runtime/store/router.ts';
import { runCli } from './helpers/run-cli.ts';

const WRONG_SECRET = 'not-the-secret-key-0000';
let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function s3Env(overrides: Record<string, string>) {
  const m = inject('minio');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-preflight-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return {
    BTC_TS_HOST: 'alpha',
    BTC_TS_DATA_DIR: dir,
    BTC_TS_LOGS_DIR: path.join(dir, 'logs'),
    BTC_TS_S3_ENDPOINT: m.endpoint,
    BTC_TS_S3_BUCKET: m.bucket,
    BTC_TS_S3_ACCESS_KEY: m.accessKey,
    BTC_TS_S3_SECRET_KEY: m.secretKey,
    ...overrides,
  };
}

async function s3Runtime(overrides: Record<string, string>): Promise<Runtime> {
  const runtime = await createRuntime(loadConfig({ env: s3Env(overrides) }), { log: silentLogger(), schedules: [] });
  cleanups.push(() => runtime.shutdown());
  return runtime;
}

describe('a refused S3 key pair', () => {
  it('wrong secret key: one failure "access denied: check …", the checks that need the primary say they were skipped', async () => {
    const runtime = await s3Runtime({ BTC_TS_S3_SECRET_KEY: WRONG_SECRET });
    const results = await runPreflight(runtime);
    const failed = results.filter((r) => !r.ok);
    expect(failed.map((r) => r.check)).toEqual(['primary reachable']);
    expect(failed[0]!.detail).toContain(ACCESS_DENIED_HINT);
    expect(failed[0]!.detail).toContain('SignatureDoesNotMatch');
    expect(failed[0]!.detail).not.toContain(WRONG_SECRET);
    for (const name of ['bucket present', 'clock sanity']) {
      expect(results.find((r) => r.check === name)).toMatchObject({ skipped: true, detail: 'skipped: needs "primary reachable", which failed' });
    }
  });

  it('wrong access key (InvalidAccessKeyId) says the same', async () => {
    const runtime = await s3Runtime({ BTC_TS_S3_ACCESS_KEY: 'nobody-such-key' });
    const failed = (await runPreflight(runtime)).filter((r) => !r.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.detail).toContain(ACCESS_DENIED_HINT);
    expect(failed[0]!.detail).toContain('InvalidAccessKeyId');
  });

  it('AccessDenied and a bodiless 403 (HEAD) map to the same hint and cause', () => {
    const denied = refusalError(403, 'AccessDenied', 'raw/x');
    expect(denied.message).toBe(`${ACCESS_DENIED_HINT} (S3 403 AccessDenied at raw/x)`);
    expect(storeErrorCause(denied)).toBe('AccessDenied');
    expect(storeErrorCause(refusalError(403, 'Forbidden', 'raw/x'))).toBe('AccessDenied');
    expect(storeErrorCause(refusalError(400, 'MaxVersionsExceeded', 'raw/x'))).toBe('MaxVersionsExceeded');
  });

  it('the page: Runtime card lists the failing check while DEBUG, Storage shows the S3 error code', async () => {
    const runtime = await s3Runtime({ BTC_TS_S3_SECRET_KEY: WRONG_SECRET });
    await runPreflight(runtime);
    // What the scheduled storage-probe does: the refused probe takes writes to the cache.
    await runtime.invoker.invoke('storage-probe', {}, 'internal');
    const app = createApp(runtime, { extend: (a, rt, guard) => mountUi(a, rt, guard, { handoverFile: path.join(runtime.paths.dataDir, 'none.md') }) });
    const page = await (await app.request('/', { headers: { accept: 'text/html' } })).text();
    const card = /<div data-testid="preflight-failures">(.*?)<\/div>/s.exec(page)?.[1] ?? '';
    expect(card).toContain('stays DEBUG');
    expect(card).toContain('<strong>primary reachable</strong>');
    expect(card).toContain(ACCESS_DENIED_HINT);
    expect(card).not.toContain('bucket present');
    expect(page).toMatch(/data-testid="primary-state">primary down \(SignatureDoesNotMatch\)</);
    expect(runtime.status.current().storage.cause).toBe('SignatureDoesNotMatch');
    expect(page).not.toContain(WRONG_SECRET);
  });

  it('runtime whatif (real process): one FAIL with the hint, exit 1', async () => {
    const run = await runCli(['whatif', '--json'], s3Env({ BTC_TS_S3_SECRET_KEY: WRONG_SECRET }));
    expect(run.code).toBe(1);
    const { checks } = JSON.parse(run.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string; skipped?: boolean }> };
    expect(checks.filter((c) => !c.ok)).toEqual([expect.objectContaining({ check: 'primary reachable', detail: expect.stringContaining(ACCESS_DENIED_HINT) })]);
    expect(checks.filter((c) => c.skipped).map((c) => c.check)).toEqual(['bucket present', 'clock sanity', 'conditional writes']);
    const table = await runCli(['whatif'], s3Env({ BTC_TS_S3_SECRET_KEY: WRONG_SECRET }));
    expect(table.stdout).toContain('1 check(s) failed');
    expect(table.stdout).toMatch(/bucket present\s+SKIP\s+skipped: needs "primary reachable"/);
  });
});
