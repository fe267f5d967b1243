// test/bootstrap-main.test.ts
// infra/minio/bootstrap.ts run as a program from a folder whose path has a space (and ü) really bootstraps, instead of exiting 0 having done nothing.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from 'minio';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isMainModule } from '../infra/minio/bootstrap.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

function run(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/tsnode.mjs'), script], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('infra/minio/bootstrap.ts as a program', () => {
  // A copy of the script in a folder with a space and a non-ASCII letter, laid out like the repository
  // (an ESM package.json, node_modules beside it so `minio` resolves).
  const base = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-boot-'));
  const copy = path.join(base, 'my repo ü', 'infra', 'minio', 'bootstrap.ts');
  mkdirSync(path.dirname(copy), { recursive: true });
  copyFileSync(path.join(ROOT, 'infra/minio/bootstrap.ts'), copy);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(base, 'my repo ü', 'node_modules'));
  writeFileSync(path.join(base, 'my repo ü', 'package.json'), JSON.stringify({ type: 'module' }));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('without the S3 variables it says which are missing (exit 2), from a path with a space', async () => {
    const result = await run(copy, { BTC_TS_S3_ENDPOINT: '', BTC_TS_S3_ACCESS_KEY: '', BTC_TS_S3_SECRET_KEY: '' });
    expect(result.stderr).toContain('bootstrap: set BTC_TS_S3_ENDPOINT, BTC_TS_S3_ACCESS_KEY, BTC_TS_S3_SECRET_KEY');
    expect(result.code).toBe(2);
  });

  it('with them it creates the bucket on the real MinIO and says so', { timeout: 60_000 }, async () => {
    const minio = inject('minio');
    const bucket = `boot-main-${process.pid}-${Date.now() % 100_000}`;
    const result = await run(copy, { BTC_TS_S3_ENDPOINT: minio.endpoint, BTC_TS_S3_ACCESS_KEY: minio.accessKey, BTC_TS_S3_SECRET_KEY: minio.secretKey, BTC_TS_S3_BUCKET: bucket });
    expect(result.stdout + result.stderr).toContain(`bootstrap: bucket ${bucket} created`);
    expect(result.code).toBe(0);
    const url = new URL(minio.endpoint);
    const client = new Client({ endPoint: url.hostname, port: Number(url.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey, pathStyle: true });
    expect(await client.bucketExists(bucket)).toBe(true);
    expect((await client.getBucketVersioning(bucket)).Status).toBe('Enabled');
    await client.removeBucket(bucket);
  });

  it('isMainModule: paths with spaces, Windows drive letters in another case, symlinks; false when imported', () => {
    expect(isMainModule(pathToFileURL(copy).href, copy)).toBe(true);
    expect(isMainModule(pathToFileURL(copy).href, path.relative(process.cwd(), copy))).toBe(true);
    // Node runs an entry reached through a symlinked folder from its real path.
    const link = path.join(base, 'linked dir');
    symlinkSync(path.dirname(copy), link);
    expect(isMainModule(pathToFileURL(copy).href, path.join(link, 'bootstrap.ts'))).toBe(true);
    expect(isMainModule(pathToFileURL(copy).href, path.join(ROOT, 'bin/tsnode.mjs'))).toBe(false);
    expect(isMainModule(pathToFileURL(copy).href, undefined)).toBe(false);
    // On Windows the same file may be named C:\\… by the URL and c:\\… by argv.
    expect(isMainModule(pathToFileURL(copy).href, copy.toUpperCase(), 'win32')).toBe(true);
    expect(isMainModule(pathToFileURL(copy).href, copy.toUpperCase(), 'linux')).toBe(false);
  });
});
