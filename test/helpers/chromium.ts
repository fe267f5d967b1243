// test/helpers/chromium.ts
// Ensures /usr/bin/chromium exists for the browser tests: installs Debian's package once, serialised by a lock.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a closed network: no background fetches, no QUIC, no GPU, no sandbox (root). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const LOCK_DIR = path.join(os.tmpdir(), 'btc-ts-chromium-install.lock');
/** A lock older than this belongs to a crashed installer and is taken over. */
const STALE_LOCK_MS = 20 * 60_000;
const INSTALL_TIMEOUT_MS = 15 * 60_000;

/**
 * Returns the Chromium path, installing it with apt-get when it is missing. Several test files
 * (or engineers) may ask at once: a mkdir lock lets one install while the others wait.
 */
export async function ensureChromium(): Promise<string> {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  while (!tryLock()) {
    if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
    if (Date.now() > deadline) throw new Error(`timed out waiting for another Chromium install (lock ${LOCK_DIR})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
    const run = promisify(execFile);
    const apt = { timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
    // The dpkg lock may be held by another apt run on this shared machine: wait for it rather than fail.
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], apt);
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', 'chromium'], apt);
    if (!existsSync(CHROMIUM_PATH)) throw new Error(`apt-get install chromium finished but ${CHROMIUM_PATH} is missing`);
    return CHROMIUM_PATH;
  } finally {
    rmdirSync(LOCK_DIR);
  }
}

function tryLock(): boolean {
  try {
    mkdirSync(LOCK_DIR);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(LOCK_DIR).mtimeMs > STALE_LOCK_MS) rmdirSync(LOCK_DIR);
    } catch {
      // someone else removed it first
    }
    return false;
  }
}
