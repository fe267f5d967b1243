// test/cli-secrets.test.ts
// No configured secret-like value (webhook tokens, the upload command's password, API token, S3 keys) appears in any CLI output.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from './helpers/run-cli.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-cli-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FILE_HOOK_TOKEN = 'fileHookToken0a1b2c3d4e';
const ENV_HOOK_TOKEN = 'envHookToken9z8y7x6w5v';
const UPLOAD_PASSWORD = 'uploadPw-4f1e9a7c';
const API_TOKEN = 'api-token-0123456789abcdef0123456789abcdef';
const S3_ACCESS = 'AKIAIOSFODNN7EXAMPLE';
const S3_SECRET = 's3-secret-wJalrXUtnFEMIK7MDENGbPxRfiCY';
const SECRETS = [FILE_HOOK_TOKEN, ENV_HOOK_TOKEN, UPLOAD_PASSWORD, API_TOKEN, S3_ACCESS, S3_SECRET];

describe('CLI output never shows a configured secret', { timeout: 180_000 }, () => {
  it('config diff, whatif, dashboard export and quality mask every secret', async () => {
    const configFile = path.join(dir, 'app.yaml');
    writeFileSync(configFile, `alerts:\n  webhookUrls: ["https://hooks.example.com/services/${FILE_HOOK_TOKEN}"]\n`);
    const env = {
      BTC_TS_CONFIG: configFile,
      BTC_TS_DATA_DIR: path.join(dir, 'data'),
      BTC_TS_LOGS_DIR: path.join(dir, 'logs'),
      BTC_TS_HOST: 'secrets-pc',
      BTC_TS_MODE: 'PROD',
      // Port 9 (discard) on loopback: nothing listens, the POST fails at once.
      SIGNAL_WEBHOOK_URLS: `http://127.0.0.1:9/hook/${ENV_HOOK_TOKEN}`,
      // The command prints its own password to stderr, as a failing upload tool might.
      BTC_TS_DASHBOARD_UPLOAD_CMD: `UPLOAD_PASSWORD=${UPLOAD_PASSWORD} sh -c 'echo "login failed for $UPLOAD_PASSWORD" >&2; exit 3'`,
      BTC_TS_API_TOKEN: API_TOKEN,
      BTC_TS_S3_ACCESS_KEY: S3_ACCESS,
      BTC_TS_S3_SECRET_KEY: S3_SECRET,
    };
    const runs: Array<[string, CliRun]> = [];
    const run = async (...args: string[]) => runs.push([args.join(' '), await runCli(args, env, dir)]);
    // The commands that read or print the config, the webhooks and the upload command (each CLI start costs seconds under load).
    await Promise.all([run('config', 'diff'), run('config', 'diff', '--all', '--json'), run('whatif', '--json')]);
    await Promise.all([run('dashboard', 'export'), run('quality', '--coverage-threshold', '0.5')]);

    // The commands did run (not a blanket refusal that would print nothing worth checking).
    const out = Object.fromEntries(runs.map(([name, r]) => [name, r]));
    expect(out['config diff']!.stdout).toContain('alerts.webhookUrls');
    expect(out['config diff']!.stdout).toMatch(/https:\/\/hooks\.example\.com\/…#[0-9a-f]{8}/);
    expect(out['config diff']!.stdout).toMatch(/dashboard\.uploadCommand\s+\*\*\* \(set, \d+ chars\)/);
    expect(JSON.parse(out['dashboard export']!.stdout)).toMatchObject({ error_code: 'upload_failed', upload: { exit_code: 3 } });
    expect(JSON.parse(out['dashboard export']!.stdout).upload.stderr_tail).toContain('login failed for ***');
    for (const [name, r] of runs) {
      for (const secret of SECRETS) {
        expect(r.stdout, `${name} stdout`).not.toContain(secret);
        expect(r.stderr, `${name} stderr`).not.toContain(secret);
      }
    }
  });
});
