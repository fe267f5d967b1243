// test/upload-command.test.ts
// `dashboard export --upload-command` runs through the platform's shell: /bin/sh here, cmd.exe /d /s /c "…" on Windows (shown with a stand-in cmd), never `sh` by name.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runUploadCommand } from '../runtime/dashboard-export/upload.ts';

const SECRET = 'pw-7f3a9c1e5b';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-upload-'));
  dirs.push(dir);
  return dir;
}

/**
 * Runs `body` while Node believes this is Windows, with `%ComSpec%` = `cmd` found on PATH in `binDir`.
 * Node's spawn reads process.platform and ComSpec when it is called, so only that call sees them.
 */
async function asWindows<T>(binDir: string, comspec: string, body: () => Promise<T>): Promise<T> {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  const saved = { comspec: process.env.comspec, PATH: process.env.PATH };
  Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
  process.env.comspec = comspec;
  process.env.PATH = `${binDir}${path.delimiter}${saved.PATH}`;
  try {
    return body();
  } finally {
    Object.defineProperty(process, 'platform', platform);
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

describe('the upload command', () => {
  it('on Linux/macOS: /bin/sh -c, in the artefact folder, with the BTC_TS_DASHBOARD_* variables; its exit code and stderr are reported', async () => {
    const dir = tempDir();
    const ok = await runUploadCommand('pwd > where.txt && echo "$BTC_TS_DASHBOARD_JOB_ID $BTC_TS_DASHBOARD_MANIFEST" >> where.txt', { dir, manifestFile: 'm.json', jobId: 'j1', timeoutMs: 20_000 });
    expect(ok).toMatchObject({ ok: true, exit_code: 0 });
    expect(readFileSync(path.join(dir, 'where.txt'), 'utf8')).toBe(`${dir}\nj1 m.json\n`);
    const failed = await runUploadCommand('echo "share unreachable" >&2; exit 3', { dir, manifestFile: 'm.json', jobId: 'j2', timeoutMs: 20_000 });
    expect(failed).toMatchObject({ ok: false, exit_code: 3, stderr_tail: 'share unreachable\n' });
  });

  it('on Windows: %ComSpec% /d /s /c "<command>" (cmd.exe, not sh), in the artefact folder, with the variables', async () => {
    const dir = tempDir();
    const bin = tempDir();
    // A stand-in for cmd.exe: records what it was given and exits 5.
    writeFileSync(path.join(bin, 'cmd'), '#!/bin/sh\nprintf "%s\\n" "$@" > given.txt\necho "$BTC_TS_DASHBOARD_JOB_ID" >> given.txt\nexit 5\n');
    chmodSync(path.join(bin, 'cmd'), 0o755);
    const command = `rclone copy "%BTC_TS_DASHBOARD_DIR%" nas:dash --password ${SECRET}`;
    const result = await asWindows(bin, 'cmd', () => runUploadCommand(command, { dir, manifestFile: 'm.json', jobId: 'win-1', timeoutMs: 20_000 }));
    expect(result).toMatchObject({ ok: false, exit_code: 5 });
    expect(readFileSync(path.join(dir, 'given.txt'), 'utf8').split('\n')).toEqual(['/d', '/s', '/c', `"${command}"`, 'win-1', '']);
  });

  it('a shell that cannot be started is a failed upload whose report names the shell, never the command', async () => {
    const dir = tempDir();
    const result = await asWindows(tempDir(), 'no-such-cmd', () =>
      runUploadCommand(`upload --token ${SECRET}`, { dir, manifestFile: 'm.json', jobId: 'j3', timeoutMs: 20_000 }),
    );
    expect(result).toMatchObject({ ok: false, exit_code: null });
    expect(result.stderr_tail).toContain('spawn no-such-cmd ENOENT');
    expect(JSON.stringify(result)).not.toContain(SECRET);
  });
});
