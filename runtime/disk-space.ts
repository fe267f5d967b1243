// runtime/disk-space.ts
// Free space of the data directory's file system: one number for /health, status, /metrics, the page and whatif.

import { promises as fsp } from 'node:fs';

export interface DiskSpace {
  /** Bytes an unprivileged writer may still use (statfs `bavail × bsize`). */
  free_bytes: number;
  /** Size of the file system in bytes (statfs `blocks × bsize`). */
  total_bytes: number;
}

/**
 * Reads the free and total bytes of the file system holding `dir` (Node's `fs.statfs`, which maps
 * to statfs(2) on POSIX and GetDiskFreeSpaceEx on Windows). Resolves `null` when the directory
 * cannot be read (missing, no permission): callers show "unknown", never a made-up number.
 */
export async function diskSpace(dir: string): Promise<DiskSpace | null> {
  try {
    const s = await fsp.statfs(dir);
    return { free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize };
  } catch {
    return null;
  }
}
