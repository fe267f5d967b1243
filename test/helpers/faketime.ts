// test/helpers/faketime.ts
// libfaketime (Debian's `faketime` package) for tests that run a real process with its wall clock shifted and its monotonic clock untouched.

import os from 'node:os';
import { ensureAptPackage } from './apt.ts';

/** Where Debian's libfaketime lives for this machine's architecture (multiarch triplet). */
export const LIBFAKETIME_PATH = `/usr/lib/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketime.so.1`;

/** The library's path, installing the `faketime` package first when it is missing. */
export function ensureLibfaketime(): Promise<string> {
  return ensureAptPackage('faketime', LIBFAKETIME_PATH);
}

/**
 * Env that shifts a child's wall clock (`Date.now()`, `clock_gettime(CLOCK_REALTIME)`) by
 * `offset` ("+20m": libfaketime's relative form) while CLOCK_MONOTONIC stays real
 * (`FAKETIME_DONT_FAKE_MONOTONIC=1`), so timers, `performance.now()` and lease timing are untouched.
 */
export function faketimeEnv(offset: string): Record<string, string> {
  return { LD_PRELOAD: LIBFAKETIME_PATH, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
