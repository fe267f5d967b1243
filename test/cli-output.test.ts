// test/cli-output.test.ts
// Real `runtime` processes: a reader that closes the pipe (`| head -1`) gets no EPIPE trace; `config diff` hides what it says it hides.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Runs the CLI with its stdout closed before it writes a byte, as `| head -1` does once it has its line. */
function runWithClosedStdout(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), ...args], {
      cwd: ROOT,
      env: { ...process.env, BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

describe('a closed stdout (runtime … | head -1)', () => {
  it.each(['--help', 'config diff --all --json', 'status'])('runtime %s exits quietly', async (command) => {
    const args = command.split(' ');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-epipe-'));
    try {
      const run = await runWithClosedStdout(args, { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs') });
      expect(run.stderr).not.toContain('EPIPE');
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('runtime config diff', () => {
  it('hides every key whose value is the default, even when the file repeats it, and counts them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-diff-'));
    try {
      const file = path.join(dir, 'app.yaml');
      // tickSeconds repeats the default; port differs from it.
      writeFileSync(file, 'http:\n  port: 9876\ncollector:\n  tickSeconds: 5\n');
      const run = await runCli(['config', 'diff', '--config', file], { BTC_TS_PORT: '', BTC_TS_TICK_SECONDS: '' });
      expect(run.code, run.stderr).toBe(0);
      const hidden = Number(/\((\d+) key\(s\) at their default value hidden; --all shows them\)/.exec(run.stdout)?.[1]);
      expect(hidden).toBeGreaterThan(10);
      const keys = run.stdout.split('\n').slice(3).map((l) => l.split(/\s+/)[0]);
      expect(keys).toContain('http.port');
      expect(keys).not.toContain('collector.tickSeconds');
      expect(keys.filter((k) => k && k !== 'secret')).toEqual(['http.port']);

      const all = await runCli(['config', 'diff', '--all', '--config', file], { BTC_TS_PORT: '', BTC_TS_TICK_SECONDS: '' });
      expect(all.stdout).toMatch(/^collector\.tickSeconds\s+5\s+5\s+5\s+file$/m);
      expect(all.stdout).not.toContain('hidden');

      const json = JSON.parse((await runCli(['config', 'diff', '--json', '--config', file], { BTC_TS_PORT: '', BTC_TS_TICK_SECONDS: '' })).stdout) as {
        hidden_at_default: number;
        rows: Array<{ key: string }>;
      };
      expect(json.hidden_at_default).toBe(hidden);
      expect(json.rows.map((r) => r.key).filter((k) => !k.startsWith('secret '))).toEqual(['http.port']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
