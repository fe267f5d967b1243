// test/helpers/chromium.ts
// Ensures /usr/bin/chromium exists for the browser tests: installs Debian's package once, serialised by a lock.

import { ensureAptPackage } from './apt.ts';

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

/** Returns the Chromium path, installing Debian's package when it is missing (test/helpers/apt.ts). */
export function ensureChromium(): Promise<string> {
  return ensureAptPackage('chromium', CHROMIUM_PATH);
}
