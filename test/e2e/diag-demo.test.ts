// test/e2e/diag-demo.test.ts
// `runtime diag api` and `runtime whatif` beside a running `runtime start --demo`: they check the emulator it collects from, and say so.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

describe('diag api and whatif see the --demo exchange', () => {
  let rt: RuntimeProcess;
  let cliDir: string;
  let env: Record<string, string>;
  let emulatorUrl: string;

  beforeAll(async () => {
    rt = await spawnRuntime({ host: 'pc-diag', args: ['--demo'], env: { BTC_TS_S3_ENDPOINT: '' } });
    emulatorUrl = /demo: exchange emulator on (http:\/\/127\.0\.0\.1:\d+)/.exec(rt.output())![1]!;
    cliDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-diag-cli-'));
    // Same PC name and port as the runtime; no exchange URL and no streams in this config.
    env = { BTC_TS_HOST: rt.host, BTC_TS_PORT: String(rt.port), BTC_TS_DATA_DIR: cliDir, BTC_TS_LOGS_DIR: path.join(cliDir, 'logs'), BTC_TS_S3_ENDPOINT: '', BTC_TS_EXCHANGE_URL: '', NO_COLOR: '1' };
  }, 60_000);
  afterAll(async () => {
    await rt?.dispose();
    if (cliDir) rmSync(cliDir, { recursive: true, force: true });
  });

  it('runtime diag api checks the emulator the runtime uses and names its URL', async () => {
    const json = await runCli(['diag', 'api', '--json'], env);
    expect(json.code, json.stdout + json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { exchange_url: string; exchange_source: string; probes: Array<{ target: string; ok: boolean; address: string }> };
    expect(result.exchange_url).toBe(emulatorUrl);
    expect(result.exchange_source).toBe(`the runtime running at ${rt.url}`);
    const binance = result.probes.find((p) => p.target === 'exchange binance');
    expect(binance).toMatchObject({ ok: true, address: `127.0.0.1:${new URL(emulatorUrl).port}` });

    const table = await runCli(['diag', 'api'], env);
    expect(table.stdout).toContain(`exchange URL checked: ${emulatorUrl} (from the runtime running at ${rt.url})`);
  }, 90_000);

  it('runtime whatif checks the demo streams against the emulator and names its URL', async () => {
    const run = await runCli(['whatif', '--json'], env);
    const result = JSON.parse(run.stdout) as { exchange_url: string; checks: Array<{ check: string; ok: boolean; detail: string }> };
    expect(result.exchange_url).toBe(emulatorUrl);
    expect(result.checks.find((c) => c.check === 'collector streams')).toMatchObject({ ok: true, detail: '8 stream(s) valid' });
    const table = await runCli(['whatif'], env);
    expect(table.stdout.split('\n')[0]).toBe(`exchange URL checked: ${emulatorUrl} (from the runtime running at ${rt.url})`);
  }, 90_000);

  it('without a running runtime it says it checked the exchanges’ own hosts', async () => {
    const run = await runCli(['whatif'], { ...env, BTC_TS_PORT: '1' });
    expect(run.stdout.split('\n')[0]).toBe("exchange URL checked: none set, each exchange's own API hosts");
  }, 60_000);
});
