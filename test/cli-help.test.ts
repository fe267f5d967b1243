// test/cli-help.test.ts
// The command line's own surface: full help, per-command help, sub-command groups, unknown commands and bad flags.

import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/run-cli.ts';

/** Every command CONTRACT.md names, as `runtime --help` must list it. */
const CONTRACT_COMMANDS = ['start', 'invoke', 'whatif', 'status', 'sync', 'health', 'config diff', 'handoff make', 'handoff load', 'rp make', 'rp list', 'rp restore', 'state update', 'state override', 'state prune', 'dashboard export', 'dashboard verify', 'diag api', 'emulator', 'compact', 'query', 'export', 'capacity', 'incident make'];

describe('runtime command line', () => {
  it('--help lists every command with its summary (exit 0); no arguments prints it and exits 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const name of CONTRACT_COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\s+\\S`, 'm'));
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain('usage: runtime <command>');
  });

  it('per-command --help shows usage and every option; a group without a sub-command names them', async () => {
    const sync = await runCli(['sync', '--help']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toContain('usage: runtime sync [--dry-run]');
    expect(sync.stdout).toMatch(/--concurrency <value>\s+uploads in flight/);
    const rp = await runCli(['rp']);
    expect(rp.code).toBe(2);
    expect(rp.stderr).toMatch(/name a sub-command:[\s\S]*runtime rp make[\s\S]*runtime rp list[\s\S]*runtime rp restore/);
    expect((await runCli(['rp', '--help'])).code).toBe(0);
  });

  it('an unknown command or flag exits 2 and says what to do', async () => {
    const unknown = await runCli(['nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "nope"');
    const bad = await runCli(['sync', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/runtime sync: .*bogus[\s\S]*usage: runtime sync/);
  });
});
