// test/helpers/apt.ts
// Installs a Debian package the tests need (chromium, faketime) once, serialised by a lock across test files and engineers.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** A lock older than this belongs to a crashed installer and is taken over. */
const STALE_LOCK_MS = 20 * 60_000;
const INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * Returns `installedPath`, running `apt-get update` and `apt-get install -y <pkg>` when it is
 * missing. Several test files (or engineers) may ask at once: a mkdir lock lets one install while
 * the others wait; the dpkg lock of another apt run is waited for, not failed on.
 */
export async function ensureAptPackage(pkg: string, installedPath: string): Promise<string> {
  if (existsSync(installedPath)) return installedPath;
  const lockDir = path.join(os.tmpdir(), `btc-ts-${pkg}-install.lock`);
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  while (!tryLock(lockDir)) {
    if (existsSync(installedPath)) return installedPath;
    if (Date.now() > deadline) throw new Error(`timed out waiting for another ${pkg} install (lock ${lockDir})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    if (existsSync(installedPath)) return installedPath;
    const run = promisify(execFile);
    const apt = { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], apt);
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', pkg], apt);
    if (!existsSync(installedPath)) throw new Error(`apt-get install ${pkg} finished but ${installedPath} is missing`);
    return installedPath;
  } finally {
    rmdirSync(lockDir);
  }
}

function tryLock(lockDir: string): boolean {
  try {
    mkdirSync(lockDir);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(lockDir).mtimeMs > STALE_LOCK_MS) rmdirSync(lockDir);
    } catch {
      // someone else removed it first
    }
    return false;
  }
}
