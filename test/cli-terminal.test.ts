// test/cli-terminal.test.ts
// Issue 22 §4: `runtime handoff load` and `runtime status` print foreign fields without terminal control sequences.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import JSZip from 'jszip';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plain } from '../runtime/cli/output.ts';
import { sha256Hex } from '../runtime/hash.ts';
import { runCli } from './helpers/run-cli.ts';

const OSC_TITLE = '\x1b]0;pwned title\x07';
const OSC52_CLIPBOARD = '\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x1b\\';
const CURSOR = '\x1b[2J\x1b[1;1H\x1b[?25l';
const C1_CSI = '\x9b31m';
const EVIL = `${OSC_TITLE}${OSC52_CLIPBOARD}${CURSOR}${C1_CSI}\r\x07\x08\x7f`;
/** Any ESC, BEL, CR, backspace, DEL or C1 byte left in the output would reach the terminal. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('plain()', () => {
  it('removes CSI, OSC title / OSC 52 (BEL or ST), DCS, 8-bit C1 and lone controls; keeps text, tabs and newlines', () => {
    expect(plain(`a${OSC_TITLE}b${OSC52_CLIPBOARD}c${CURSOR}d`)).toBe('abcd');
    expect(plain(`x${C1_CSI}y\x9d0;t\x9cz`)).toBe('xyz');
    expect(plain('\x1bP1$r0m\x1b\\ok\x1bc')).toBe('ok');
    expect(plain('tab\there\nnext\r\x00\x7f')).toBe('tab\there\nnext');
    expect(plain('ヘルプ — ünïcode stays')).toBe('ヘルプ — ünïcode stays');
  });
});

describe('CLI output of foreign fields', () => {
  let dir: string;
  const env = () => ({ BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_REPO_DIR: dir, BTC_TS_HOST: 'pc-clean' });

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-terminal-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runtime handoff load strips control sequences from every bundle field it prints', async () => {
    const parts: Record<string, string> = {
      'env_manifest.yaml': stringify({
        bundle: { format: 'btc-ts-handoff', version: 1, name: `Handoff${EVIL}.zip`, created_at: `2026${EVIL}` },
        host: `host${EVIL}`,
        actor: `actor${EVIL}`,
        site: 'site',
        session: `sess${EVIL}`,
        mode: 'DEBUG',
        branch: `main${EVIL}`,
        commit: null,
        dirty: false,
        restore_point: `rp${EVIL}`,
      }),
      'gpt_context_map.yaml': stringify({ phase: `phase${EVIL}`, mode: `DEBUG${EVIL}`, next_tasks: [`task${EVIL}`], open_tasks: ['o'], files_in_progress: [{ path: `f${EVIL}.ts`, change: 'modified' }] }),
      'handover.md': '# Handover\n',
      'repo_structure.yaml': 'file_count: 0\n',
      'git.yaml': 'available: false\n',
    };
    const zip = new JSZip();
    for (const [name, body] of Object.entries(parts)) zip.file(name, body);
    zip.file('SHA256SUMS', Object.entries(parts).map(([name, body]) => `${sha256Hex(Buffer.from(body))}  ${name}`).join('\n') + '\n');
    const file = path.join(dir, 'evil.zip');
    writeFileSync(file, await zip.generateAsync({ type: 'nodebuffer' }));

    const [text, json] = await Promise.all([runCli(['handoff', 'load', file], env()), runCli(['handoff', 'load', file, '--json'], env())]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(CONTROL);
    expect(text.stdout).toContain('phase          phase\n'); // the text around the sequences stays readable
    expect(text.stdout).toContain('1. task\n');
    expect(text.stdout).toContain('by actor@host ');
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).context.phase).toBe(`phase${EVIL}`); // JSON keeps the value, escaped
  }, 120_000);

  it('runtime status strips control sequences from a peer status object', async () => {
    const statusDir = path.join(dir, 'nas', 'collector', 'status');
    mkdirSync(statusDir, { recursive: true });
    const peer = {
      host: `peer${EVIL}`,
      mode: `PROD${EVIL}`,
      updated_at: `2026-01-01T00:00:00Z${EVIL}`,
      leader: { host: `leader${EVIL}`, since: null, active: false },
      storage: { primary: 'up', secondary: 'idle', secondary_path: '/x' },
      sync: { pending: false, last: null },
      streams: [],
    };
    writeFileSync(path.join(statusDir, 'peer.json'), JSON.stringify(peer));
    const [text, json] = await Promise.all([runCli(['status'], env()), runCli(['status', '--json'], env())]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/peer\s+stale\s+PROD\s+leader\s/);
    expect(text.stdout).not.toMatch(CONTROL);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(JSON.parse(json.stdout).hosts[0].host).toBe(`peer${EVIL}`);
  }, 120_000);
});
