// test/e2e/cli-one-run.test.ts
// With a real runtime listening on this PC, each CLI command that goes through it runs its duty exactly once and prints once.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempRepo, type TempRepo } from '../helpers/git-repo.ts';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

/** `btc_ts_function_runs_total` of one function and source on the runtime's /metrics, all results summed. */
async function runsOf(rt: RuntimeProcess, fn: string, source: string): Promise<number> {
  const text = await (await fetch(`${rt.url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('btc_ts_function_runs_total{')) continue;
    if (line.includes(`fn="${fn}"`) && line.includes(`source="${source}"`)) total += Number(line.split(' ').pop());
  }
  return total;
}

/** How many JSON documents the CLI printed: printJson starts each pretty object with `{` at column 0. */
function printedResults(stdout: string): number {
  return stdout.split('\n').filter((line) => line === '{').length;
}

describe('CLI commands through a running runtime: one call, one run', () => {
  let rt: RuntimeProcess;
  let cliDir: string;
  let cliEnv: Record<string, string>;
  let repo: TempRepo;

  beforeAll(async () => {
    // A repository of its own: handoff --rp cuts a tag, which must never land in this one.
    repo = await createTempRepo({ 'docs/handover.md': '# Handover\n\n## Next tasks\n1. check the bundle\n', 'app.ts': '// app.ts\n// v1\n' });
    await repo.commitAll('first commit');
    rt = await spawnRuntime({ host: 'pc-one-run', env: { BTC_TS_REPO_DIR: repo.dir } });
    // The CLI gets a data dir of its own: an in-process run would write there, not in the runtime's.
    cliDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-one-run-cli-'));
    cliEnv = { BTC_TS_REPO_DIR: repo.dir, BTC_TS_HOST: rt.host, BTC_TS_PORT: String(rt.port), BTC_TS_DATA_DIR: cliDir, BTC_TS_LOGS_DIR: path.join(cliDir, 'logs') };
  });
  afterAll(async () => {
    await rt?.dispose();
    if (cliDir) rmSync(cliDir, { recursive: true, force: true });
    repo?.dispose();
  });

  it.each([
    ['storage-probe', {}],
    ['dashboard-export', { upload: false }],
    ['state-override', { action: 'status' }],
  ])('runtime invoke %s runs once on the runtime and prints one result', async (fn, input) => {
    const before = await runsOf(rt, fn, 'http');
    const run = await runCli(['invoke', fn, '--input', JSON.stringify(input)], cliEnv);
    expect(run.code, run.stderr).toBe(0);
    expect(printedResults(run.stdout)).toBe(1);
    expect(await runsOf(rt, fn, 'http')).toBe(before + 1);
    // Nothing ran in the CLI's own process: its data dir holds no store writes.
    expect(existsSync(path.join(cliDir, 'nas'))).toBe(false);
    expect(existsSync(path.join(cliDir, 'cache', 'dashboard'))).toBe(false);
  }, 90_000);

  it('runtime invoke of a failing input runs once too and exits 2', async () => {
    const before = await runsOf(rt, 'state-override', 'http');
    const run = await runCli(['invoke', 'state-override', '--input', '{"action":"nope"}'], cliEnv);
    expect(run.code).toBe(2);
    expect(printedResults(run.stdout)).toBe(1);
    expect(await runsOf(rt, 'state-override', 'http')).toBe(before);
  }, 60_000);

  it('runtime handoff make runs the handoff once on the runtime and prints one summary', async () => {
    const before = await runsOf(rt, 'handoff', 'http');
    const run = await runCli(['handoff', 'make'], cliEnv);
    expect(run.code, run.stderr).toBe(0);
    expect(printedResults(run.stdout)).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ via: rt.url, key: expect.stringMatching(/^handoff\/Handoff_/) });
    expect(await runsOf(rt, 'handoff', 'http')).toBe(before + 1);
    expect(existsSync(path.join(cliDir, 'nas', 'handoff'))).toBe(false);
  }, 120_000);

  it.each([
    ['through the running runtime', []],
    ['in this process (--local)', ['--local']],
  ])('runtime handoff make --rp names the restore point it cut, %s', async (_, extra) => {
    const run = await runCli(['handoff', 'make', '--rp', '--label', `one-run${extra.length}`, ...extra], cliEnv);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { restore_point: string | null };
    expect(summary.restore_point).toMatch(new RegExp(`^rp/\\d{8}-\\d{4}-one-run${extra.length}$`));
    expect(run.stderr).toContain(`restore point ${summary.restore_point} (runtime rp restore ${summary.restore_point} goes back to it)`);
  }, 120_000);

  // These run in the CLI's own process (they take flags the HTTP input does not): once, and not on the runtime as well.
  it.each([
    ['dashboard export', ['dashboard', 'export', '--dataset', 'latency'], 'dashboard-export'],
    ['state override status', ['state', 'override', 'status'], 'state-override'],
  ])('runtime %s runs once in-process while a runtime listens, and prints one summary', async (_, args, fn) => {
    const before = await runsOf(rt, fn, 'http');
    const run = await runCli(args, cliEnv);
    expect(run.code, run.stderr).toBe(0);
    expect(printedResults(run.stdout)).toBe(1);
    expect(await runsOf(rt, fn, 'http')).toBe(before);
  }, 90_000);
});
