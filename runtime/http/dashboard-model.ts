// runtime/http/dashboard-model.ts
// What the dashboard page shows, as one model (gathered by dashboard-data.ts, drawn by the dashboard-*.tsx views), and the slots the page and `runtime start` write for it.

import type { ClockSkewReading } from '../clock-skew.ts';
import type { DiagReason } from '../diag-reasons.ts';
import type { DiskReading } from '../disk-space.ts';
import type { AuditEvent } from '../audit.ts';
import type { CompactLast } from '../lake/capacity.ts';
import { defineSlot } from '../local-slots.ts';
import type { CheckResult } from '../preflight.ts';
import type { HostLiveness, HostStatus, StreamStatus } from '../status.ts';
import type { Backlog } from '../store/backlog.ts';
import type { CoverageDay } from './charts.tsx';
import type { NextTasks } from './handover-tasks.ts';
import type { StreamSeries } from './stream-charts.ts';

export interface SyncRetryOutcome {
  at: number;
  ok: boolean;
  running: boolean;
  message: string;
}
/** The last Retry sync outcome: written by the page's Retry button (runtime/http/dashboard-routes.tsx), read by the Sync card. */
export const SYNC_RETRY_SLOT = defineSlot<SyncRetryOutcome>('dashboard.syncRetry');

/** The Data card's part of the model. */
export interface DataModel {
  last: CompactLast | null;
  /** Newest first; null when the listing did not answer in time. */
  incidents: string[] | null;
}

export interface HostRow extends HostStatus {
  self: boolean;
  /** running / stopped / stale and the age of updated_at; this runtime's own row is running by definition. */
  liveness: HostLiveness;
}

export interface DashboardModel {
  now: number;
  host: string;
  mode: string;
  leader: { host: string | null; epoch: number; since: number | null; self: boolean; degraded: boolean };
  storage: {
    primary: 'up' | 'down';
    secondary: 'used' | 'idle';
    /** Why the primary is down: `network` or the S3 error code (AccessDenied, SignatureDoesNotMatch, …). */
    cause: string | null;
    primaryDescribe: string;
    cacheDescribe: string;
    lastProbe?: { ok: boolean; at: number; error?: string };
    /** Whether the primary enforces If-None-Match / If-Match: `ok`, `missing: …`, `unknown: …` (capabilities.ts). */
    conditionalWrites: string;
    /** This PC − the primary (ms, + = ahead), from the S3 Date headers; skewMs null until measured. */
    clockSkew: ClockSkewReading;
    /** The data directory's free space now (bytes, with the warning threshold); null when it cannot be measured. */
    disk: DiskReading | null;
  };
  sync: {
    pending: boolean;
    backlog: Backlog | { error: string };
    last: HostStatus['sync']['last'];
    available: boolean;
    running: boolean;
    retry: SyncRetryOutcome | null;
  };
  hosts: HostRow[];
  hostErrors: string[];
  streams: Array<StreamStatus & { host: string }>;
  /** Streams in this runtime's config (collector.streams): 0 means it collects nothing by design, not "not yet". */
  configuredStreams: number;
  audit: AuditEvent[];
  auditNote?: string;
  nextTasks: NextTasks;
  console: { raw: string; audit: string } | { hint: string } | null;
  handoffAvailable: boolean;
  /** While DEBUG: the failing checks of the last preflight (why the runtime does not go PROD), with when it ran. */
  preflightFailures: { at: number; failed: CheckResult[] } | null;
  /** Why this host is DIAG (runtime/diag-reasons.ts); empty when not, or when DIAG was forced. */
  diagReasons: DiagReason[];
  /** Started with --insecure-no-token on a non-loopback address: the page says so in red. */
  insecureNoToken: boolean;
  /** Compaction, capacity and incidents (docs/data.md). */
  data: DataModel;
  /** BTC_TS_API_TOKEN is set: /status wants the bearer header, so the page does not link it. */
  tokenSet: boolean;
  /** Per stream (streamKeyOf): the last hour's series for the card's sparklines (absent when not readable in time). */
  charts: Map<string, StreamSeries>;
  /** Per stream (streamKeyOf): the last 7 UTC days of coverage, oldest first, from quality/dt=<date>/summary.json. */
  coverage: Map<string, CoverageDay[]>;
}

/** Set (true) by `runtime start --insecure-no-token` (runtime/cli/start.ts); read by the page, which warns. */
export const INSECURE_NO_TOKEN_SLOT = defineSlot<boolean>('http.insecureNoToken');
