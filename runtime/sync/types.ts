// runtime/sync/types.ts
// The shapes of one sync run (engine.ts runSync): its dependencies, options, progress and summary; kept apart so every step imports them without a cycle.

import type { RecordAudit } from '../audit-events.ts';
import type { Logger } from '../logger.ts';
import type { ObjectStore } from '../store/types.ts';
import type { BackoffOptions } from './backoff.ts';
import type { ContinuityIssue } from './continuity.ts';

export interface SyncDeps {
  primary: ObjectStore;
  cache: ObjectStore;
  audit: { record: RecordAudit };
  log: Logger;
}

export interface SyncOptions {
  dryRun: boolean;
  /** Uploads in flight at once. */
  concurrency: number;
  /**
   * Bytes of object bodies held in memory at once: read ahead of the continuity check plus uploads
   * in flight (byte-budget.ts). A 1 MB segment takes 1 MB of it; one larger than the budget goes
   * alone. Default DEFAULT_MAX_BYTES_IN_FLIGHT (byte-budget.ts).
   */
  maxBytesInFlight?: number;
  retry: Omit<BackoffOptions, 'signal' | 'onRetry'>;
  /** A chunk audit every this many finished items. */
  chunkItems: number;
  /** Pause between epochs reported as a time gap (ms). */
  timeGapMs: number;
  /** The normal distance between records per stream, added to timeGapMs (continuity.ts spacingOfStreams). */
  spacingMs?: (stream: string) => number;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
}

export interface SyncProgress {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
}

export interface SyncSummary {
  ok: boolean;
  dry_run: boolean;
  /** Why it stopped early: `unavailable` (primary unreachable after retries), `aborted`, or `error`. */
  reason?: string;
  error?: string;
  plan: { items: number; bytes: number; est_ms: number; streams: number; segments: number; audit_segments: number; atomic: number };
  items: number;
  bytes: number;
  elapsed_ms: number;
  uploaded: number;
  already_present: number;
  /** `would_copy` only in a dry run, where `copied` stays 0: a dry run copies nothing. */
  atomic: { copied: number; same: number; primary_newer: number; would_copy?: number };
  /** Dry run only: what a real run would upload (segments, audit segments, atomic objects). */
  would_copy?: { items: number; bytes: number };
  conflicts: Array<{ key: string; local_etag: string; remote_etag: string }>;
  /** Only when the primary throttled (503 SlowDown / 429): answers seen and the lowest concurrency the run fell to. */
  throttled?: { answers: number; lowest_concurrency: number };
  issues: ContinuityIssue[];
  unrecognized: string[];
}
