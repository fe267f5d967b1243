// test/e2e/host-status.test.ts
// `runtime status` with real processes: a SIGTERM'd runtime reads "stopped", a killed one "stale", and CLI commands leave the row alone.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hostLiveness } from '../../runtime/status.ts';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

/** Status period 1 s: a killed host is stale after 3 s. */
const PROBE_SECONDS = 1;

let dirs: string[] = [];
let runtimes: RuntimeProcess[] = [];

afterEach(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  runtimes = [];
  dirs = [];
});

/** A config with a short probe (= status) period, and the env that points the CLI at the runtime's data dir. */
function setup(host: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-host-status-'));
  dirs.push(dir);
  const config = path.join(dir, 'app.yaml');
  writeFileSync(config, `storage:\n  probe:\n    everySeconds: ${PROBE_SECONDS}\n`);
  const dataDir = path.join(dir, 'data');
  const env = { BTC_TS_CONFIG: config, BTC_TS_HOST: host, BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_MODE: 'PROD' };
  return { env, dataDir, statusFile: path.join(dataDir, 'nas', 'collector', 'status', `${host}.json`) };
}

interface StatusRow {
  host: string;
  mode: string;
  state: string;
  age_s: number | null;
  updated_at: string;
  stopped_at?: string;
}

async function statusRows(env: Record<string, string>): Promise<StatusRow[]> {
  const run = await runCli(['status', '--json'], env);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as { hosts: StatusRow[] }).hosts;
}

/** The host's row as `runtime status` derives it (runtime/status.ts hostLiveness), read in-process from its status object; null while there is none. */
function localRow(statusFile: string): StatusRow | null {
  try {
    const doc = JSON.parse(readFileSync(statusFile, 'utf8')) as StatusRow & { period_s?: number };
    const { state, ageMs } = hostLiveness(doc, Date.now());
    return { ...doc, state, age_s: ageMs === null ? null : Math.round(ageMs / 1000) };
  } catch {
    return null; // not written yet, or caught mid-write
  }
}

/**
 * Waits until `accept` holds for the host's row of `runtime status --json` (no fixed sleeps). The
 * status object is polled in-process, cheaply; the CLI runs only once it should agree, and its row
 * is what is returned (so every assertion is on the CLI's answer).
 */
async function waitForRow(env: Record<string, string>, host: string, statusFile: string, accept: (row: StatusRow) => boolean, timeoutMs = 30_000): Promise<StatusRow> {
  const deadline = Date.now() + timeoutMs;
  let last: StatusRow | undefined;
  while (Date.now() < deadline) {
    const local = localRow(statusFile);
    if (local && accept(local)) {
      last = (await statusRows(env)).find((r) => r.host === host);
      if (last && accept(last)) return last;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`row of ${host} never matched; last from the CLI: ${JSON.stringify(last)}; local: ${JSON.stringify(localRow(statusFile))}`);
}

describe('runtime status: age and stopped / stale', () => {
  it('shows a runtime stopped with SIGTERM as "stopped" (table and JSON), with its age', async () => {
    const { env, dataDir, statusFile } = setup('pc-term');
    const rt = await spawnRuntime({ host: 'pc-term', dataDir, env });
    runtimes.push(rt);
    const running = await waitForRow(env, 'pc-term', statusFile, (r) => r.state === 'running');
    expect(running.age_s).not.toBeNull();
    await rt.stop();
    const stopped = (await statusRows(env)).find((r) => r.host === 'pc-term')!;
    expect(stopped.state).toBe('stopped');
    expect(stopped.stopped_at).toBeDefined();
    const table = await runCli(['status'], env);
    expect(table.stdout).toMatch(/pc-term\s+stopped\s+PROD/);
    expect(table.stdout).toMatch(/s ago\)/);
  });

  it('shows a killed runtime as "stale" once it is older than 3 status periods', async () => {
    const { env, dataDir, statusFile } = setup('pc-kill');
    const rt = await spawnRuntime({ host: 'pc-kill', dataDir, env });
    runtimes.push(rt);
    await waitForRow(env, 'pc-kill', statusFile, (r) => r.state === 'running');
    await rt.kill9();
    const stale = await waitForRow(env, 'pc-kill', statusFile, (r) => r.state === 'stale');
    expect(stale.stopped_at).toBeUndefined();
    // age_s is rounded to whole seconds; the state is decided on milliseconds (> 3 periods).
    expect(stale.age_s).toBeGreaterThanOrEqual(3 * PROBE_SECONDS);
    const table = await runCli(['status'], env);
    expect(table.stdout).toMatch(/pc-kill\s+stale\s+PROD/);
  });

  // A runtime and four CLI processes one after another: a bound for a loaded 2-core machine, not a wait.
  it('a CLI command (invoke storage-probe --local, whatif) leaves the running host\'s status row untouched', { timeout: 150_000 }, async () => {
    const { env, dataDir, statusFile } = setup('pc-cli');
    const rt = await spawnRuntime({ host: 'pc-cli', dataDir, env });
    runtimes.push(rt);
    await waitForRow(env, 'pc-cli', statusFile, (r) => r.state === 'running');
    // While it runs: a DEBUG command right after must not have replaced the PROD row with its own.
    const live = await runCli(['invoke', 'storage-probe', '--local'], { ...env, BTC_TS_MODE: 'DEBUG' });
    expect(live.code, live.stderr).toBe(0);
    expect(JSON.parse(readFileSync(statusFile, 'utf8'))).toMatchObject({ host: 'pc-cli', mode: 'PROD' });
    // Stopped cleanly, nobody else writes the object: any change now would be the CLI's.
    await rt.stop();
    const before = readFileSync(statusFile, 'utf8');
    const invoke = await runCli(['invoke', 'storage-probe', '--local'], { ...env, BTC_TS_MODE: 'DEBUG' });
    expect(invoke.code, invoke.stderr).toBe(0);
    await runCli(['whatif'], { ...env, BTC_TS_MODE: 'DEBUG' });
    expect(readFileSync(statusFile, 'utf8')).toBe(before);
    const row = (await statusRows(env)).find((r) => r.host === 'pc-cli')!;
    expect(row).toMatchObject({ mode: 'PROD', state: 'stopped' });
  });
});
