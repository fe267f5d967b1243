// runtime/dashboard-export/upload.ts
// Runs the operator's upload command after a successful export; its failure is reported, never fatal to artefacts.

import { spawn } from 'node:child_process';

export interface UploadResult {
  ok: boolean;
  exit_code: number | null;
  signal: string | null;
  elapsed_ms: number;
  /** Last part of stderr (masked by the caller) for the failure report. */
  stderr_tail: string;
}

const STDERR_TAIL_BYTES = 1000;

/**
 * Runs `command` through the platform's shell, in the local artefact directory, with
 * BTC_TS_DASHBOARD_DIR / _MANIFEST / _JOB_ID in its environment: Node's `shell: true`, i.e.
 * `/bin/sh -c <command>` on Linux and macOS, `%ComSpec% /d /s /c "<command>"` (cmd.exe) on Windows,
 * which has no `sh`. So on Windows the command is cmd syntax (`%BTC_TS_DASHBOARD_DIR%`), or
 * `powershell -NoProfile -Command "…"` for PowerShell (docs/windows.md). The command itself is never
 * logged: it may carry credentials.
 */
export function runUploadCommand(command: string, o: { dir: string; manifestFile: string; jobId: string; timeoutMs: number }): Promise<UploadResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(command, {
      shell: true,
      windowsHide: true, // no console window popping up on the desk PC for each upload
      cwd: o.dir,
      env: { ...process.env, BTC_TS_DASHBOARD_DIR: o.dir, BTC_TS_DASHBOARD_MANIFEST: o.manifestFile, BTC_TS_DASHBOARD_JOB_ID: o.jobId },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: o.timeoutMs,
    });
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-STDERR_TAIL_BYTES)));
    const done = (code: number | null, signal: string | null, extra = '') =>
      resolve({ ok: code === 0, exit_code: code, signal, elapsed_ms: Math.round(performance.now() - started), stderr_tail: (stderr + extra).slice(-STDERR_TAIL_BYTES) });
    child.once('error', (err) => done(null, null, `\n${err.message}`));
    child.once('close', (code, signal) => done(code, signal));
  });
}
