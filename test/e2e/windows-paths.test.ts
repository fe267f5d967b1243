// test/e2e/windows-paths.test.ts
// A real `runtime start --demo` in a data directory whose path has a space and a non-ASCII letter collects and ships there, and stops cleanly within a tick when `<data dir>/runtime.stop` appears.

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_NAME } from '../../runtime/data-dir-lock.ts';
import { SHUTDOWN_FILE_NAME } from '../../runtime/cli/stop-requests.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

/** config/app.yaml's tick (collector.tickSeconds, 5 s): the stop file must act within one. */
const TICK_MS = 5_000;

interface StatusAnswer {
  hosts: Array<{ host: string; streams: Array<{ topic: string; ok: boolean }> }>;
}

async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, what: string, output: () => string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a data directory with a space and a non-ASCII letter in its path', () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-winpaths-'));
  const dataDir = path.join(base, 'data dir ü');
  let rt: RuntimeProcess | undefined;
  afterAll(async () => {
    await rt?.stop();
    rmSync(base, { recursive: true, force: true });
  });

  it('collects and ships there; <data dir>/runtime.stop stops it cleanly within one tick', { timeout: 120_000 }, async () => {
    rt = await spawnRuntime({ host: 'win-pc', dataDir, args: ['--demo'], env: { BTC_TS_S3_ENDPOINT: '' } });
    const output = rt.output;
    expect(output()).toContain(`hard-link locks in ${dataDir}`);
    // Trades collect, and their segments are shipped into the embedded primary inside that folder.
    const tradesDir = path.join(dataDir, 'nas', 'raw', 'binance', 'trades', 'BTC-USDT');
    await waitFor(
      async () => (await rt!.get<StatusAnswer>('/status')).hosts.find((h) => h.host === 'win-pc')?.streams.some((s) => s.topic === 'trades' && s.ok),
      'trades to collect',
      output,
    );
    const segments = await waitFor(
      async () => existsSync(tradesDir) && (readdirSync(tradesDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.jsonl')),
      'a shipped trades segment',
      output,
    );
    expect(segments.length).toBeGreaterThan(0);
    // Object keys are '/'-separated whatever the platform: no file name in the primary holds a backslash.
    const names = readdirSync(path.join(dataDir, 'nas'), { recursive: true }) as string[];
    expect(names.filter((n) => n.includes('\\'))).toEqual([]);
    expect(readdirSync(path.join(dataDir, 'logs')).length).toBeGreaterThan(0);

    const child = rt.child;
    const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const stopFile = path.join(dataDir, SHUTDOWN_FILE_NAME);
    const asked = Date.now();
    writeFileSync(stopFile, '');
    await waitFor(async () => output().includes(`stopping: shutdown file ${stopFile} appeared`), 'the stop file to be seen', output, 30_000);
    const seenMs = Date.now() - asked;
    expect(await exitCode).toBe(0);
    console.log(`[windows-paths] stop file seen after ${seenMs} ms; exited ${Date.now() - asked} ms after it appeared`);
    expect(seenMs, 'ms from the stop file to "stopping"').toBeLessThan(TICK_MS);
    expect(output()).toMatch(/"msg":"stopped"/);
    expect(existsSync(stopFile)).toBe(false);
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_NAME))).toBe(false);
  });
});
