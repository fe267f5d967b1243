// test/state-cli.test.ts
// `runtime state update|override|prune` as real processes: flags, JSON output, --json-out, exit codes 0/1/2.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { series, T0 } from './helpers/state-fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-state-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const configFile = path.join(dir, 'app.yaml');
const runsDir = path.join(dir, 'data', 'nas', 'runs', 'day_orb', 'BTC-USDT', 'conservative');
function writeConfig(slippageAlpha: number): void {
  writeFileSync(
    configFile,
    `strategies:\n  day_orb:\n    model:\n      pipSize: 0.01\n      evPrior: { wins: 1, losses: 1 }\n      slippageAlpha: ${slippageAlpha}\n    symbol: BTC/USDT\n    mode: conservative\n`,
  );
}
function writeFills(name: string, lines: string[]): void {
  mkdirSync(runsDir, { recursive: true });
  writeFileSync(path.join(runsDir, name), lines.join('\n') + '\n');
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}
function cli(...args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, BTC_TS_CONFIG: configFile, BTC_TS_DATA_DIR: path.join(dir, 'data'), BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_HOST: 'pc1' };
  delete env.SIGNAL_WEBHOOK_URLS;
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), ...args], { cwd: dir, env }, (err, stdout, stderr) => {
      let json: unknown = null;
      try {
        json = JSON.parse(stdout);
      } catch {
        /* not JSON: usage errors print to stderr only */
      }
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr, json });
    });
  });
}

// Each case spawns several `runtime` processes; under the full suite's load one start can take seconds.
describe('runtime state CLI', { timeout: 180_000 }, () => {
  it('update applies (exit 0), writes --json-out; a guard block exits 1; bad input exits 2', async () => {
    writeConfig(0.2);
    writeFills('a.jsonl', series(T0, 10).map((f) => JSON.stringify(f)));
    const out = path.join(dir, 'out', 'preview.json');
    const dry = await cli('state', 'update', '--simulate-live', '--dry-run', '--max-delta', '0.2', '--var-cap', '10', '--liquidity-cap', '50', '--alert-mode', 'auto', '--json-out', out);
    expect(dry.code).toBe(0);
    expect(dry.json.decision).toEqual({ status: 'preview', reasons: ['dry_run'] });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(dry.json);

    const applied = await cli('state', 'update', '--simulate-live', '--max-delta', '0.2', '--var-cap', '10', '--liquidity-cap', '50');
    expect(applied.code).toBe(0);
    expect(applied.json).toMatchObject({ decision: { status: 'applied' }, state_key: 'state/day_orb/BTC-USDT/conservative/state.json' });

    writeFills('b.jsonl', series(T0 + 3_600_000, 4, 10, 60).map((f) => JSON.stringify(f)));
    const blocked = await cli('state', 'update', '--simulate-live', '--var-cap', '10');
    expect(blocked.code).toBe(1);
    expect(blocked.json).toMatchObject({ decision: { status: 'blocked', reasons: ['anomaly:var_cap_exceeded'] }, rollback_triggered: true, alert: { status: 'fallback' } });
    expect(readFileSync(path.join(dir, 'logs', 'state_alerts.log'), 'utf8')).toContain('note=no_webhook_configured env_var=SIGNAL_WEBHOOK_URLS');

    writeFills('c.jsonl', ['{"ts": 1, "side": "buy", "qty": 1, "price": 1, "expected_price": 1, "pnl_pips": 1, "gate_bucket": "x"}', '{"ts": 2, "side": "buy"}']);
    const bad = await cli('state', 'update', '--simulate-live');
    expect(bad.code).toBe(2);
    // The last stderr line is the one-line reason (the runtime's warn log line may precede it).
    expect(bad.stderr.trim().split('\n').at(-1)).toBe(
      'runtime state update: bad fill at runs/day_orb/BTC-USDT/conservative/c.jsonl line 2: qty: missing; price: missing; expected_price: missing; pnl_pips: missing; gate_bucket: missing; no fill of this evidence was used',
    );
    rmSync(path.join(runsDir, 'c.jsonl'));

    // Flags are the duty's input: its zod schema refuses them, the issue named by its flag (exit 2).
    expect((await cli('state', 'update', '--max-delta', 'abc')).stderr).toMatch(/--max-delta: Invalid input: expected number, received string/);
    const mode = await cli('state', 'update', '--alert-mode', 'loud');
    expect([mode.code, mode.stderr.trim()]).toEqual([2, 'runtime state update: invalid input for state-update: --alert-mode: Invalid option: expected one of "auto"|"disable"|"force"']);
  });

  it('a config change makes the old state unloadable (exit 1 with the reason) until --reset', async () => {
    writeConfig(0.5);
    const refused = await cli('state', 'update', '--simulate-live', '--dry-run');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/config_fingerprint mismatch .* never reused after a config change/);
    const reset = await cli('state', 'update', '--simulate-live', '--reset');
    expect(reset.code).toBe(0);
    expect(reset.json).toMatchObject({ reset: true, decision: { status: 'applied' }, evidence: { fills_new: 14 } });
  });

  it('override disable / status / enable, and prune with --dry-run first', async () => {
    const preview = await cli('state', 'override', 'disable', '--reason', 'maintenance', '--dry-run');
    expect(preview.json).toMatchObject({ dry_run: true, current: { status: 'disabled' }, previous: { status: 'enabled' } });
    expect((await cli('state', 'override', 'status')).json.current.status).toBe('enabled');
    expect((await cli('state', 'override', 'disable', '--reason', 'maintenance')).json.current).toMatchObject({ status: 'disabled', reason: 'maintenance' });
    const update = await cli('state', 'update', '--simulate-live');
    expect(update.json.decision.reasons).toContain('override_disabled');
    expect((await cli('state', 'override', 'enable', '--reason', 'resumed')).json.changed).toBe(true);
    expect((await cli('state', 'override', 'pause')).code).toBe(2);

    const dry = await cli('state', 'prune', '--keep', '1', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.json.groups[0]).toMatchObject({ prefix: 'state_archive/day_orb/BTC-USDT/conservative/', total: 4 });
    expect(dry.json.removed_total).toBe(3);
    const real = await cli('state', 'prune', '--keep', '1');
    expect(real.json.groups[0].removed).toEqual(dry.json.groups[0].removed);
    expect((await cli('state', 'prune', '--keep', '1', '--dry-run')).json.removed_total).toBe(0);
    expect((await cli('state', 'prune')).code).toBe(2);
  });
});
