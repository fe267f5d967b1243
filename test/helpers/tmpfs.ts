// test/helpers/tmpfs.ts
// A small real file system that fills up: `mount -t tmpfs -o size=…` (CI runs as root), unmounted on dispose.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  /** The mount point (a fresh, empty directory). */
  dir: string;
  /** Writes a filler file until the file system refuses with ENOSPC; returns its path. */
  fill(): string;
  /** Removes every filler file: the space is back. */
  free(): void;
  /** Unmounts and removes the mount point (also when something inside is still open: lazy unmount). */
  dispose(): void;
}

/**
 * Mounts a tmpfs of `sizeBytes` at a new directory (its name may contain spaces, to test paths).
 * Throws with the reason when mounting is not allowed here (not root): a test that needs a real
 * full disk must not pass without one.
 */
export function mountTmpfs(sizeBytes: number, name = 'btc-ts-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(path.join(os.tmpdir(), name));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a tmpfs (the disk-full tests need root): ${(err as Error).message}`);
  }
  const fillers: string[] = [];
  return {
    dir,
    fill() {
      const file = path.join(dir, `.filler-${fillers.length}`);
      fillers.push(file);
      const fd = openSync(file, 'w');
      const chunk = Buffer.alloc(64 * 1024, 1);
      try {
        for (;;) {
          try {
            writeSync(fd, chunk);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            // The last bytes: fill what a whole chunk could not.
            for (let size = chunk.length / 2; size >= 1; size = Math.floor(size / 2)) {
              try {
                while (true) writeSync(fd, chunk, 0, size);
              } catch {
                // smaller next
              }
            }
            return file;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      for (const file of fillers.splice(0)) rmSync(file, { force: true });
    },
    dispose() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

