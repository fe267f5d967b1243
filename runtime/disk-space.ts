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

/** One reading of the data directory's free space, with the configured warning threshold. */
export interface DiskReading extends DiskSpace {
  /** `storage.diskFreeWarnBytes` (bytes). */
  warn_bytes: number;
  /** free_bytes is under warn_bytes. */
  low: boolean;
  /** When it was read (ms, this PC's clock). */
  at_ms: number;
}

/**
 * The data directory's free space for /health, status, /metrics, the page and whatif. `read()`
 * measures now (statfs costs microseconds); `last()` is the newest reading, for synchronous callers
 * such as the status writer. A directory that cannot be measured reads as null: "unknown".
 */
export class DiskMonitor {
  private latest: DiskReading | null = null;

  constructor(
    private readonly dir: string,
    private readonly warnBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  async read(): Promise<DiskReading | null> {
    const space = await diskSpace(this.dir);
    this.latest = space && { ...space, warn_bytes: this.warnBytes, low: space.free_bytes < this.warnBytes, at_ms: this.now() };
    return this.latest;
  }

  last(): DiskReading | null {
    return this.latest;
  }
}
