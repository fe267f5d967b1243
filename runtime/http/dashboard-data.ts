// runtime/http/dashboard-data.ts
// Gathers what the dashboard shows: live state of this runtime, every host's status, backlog, audit, ToDo.

import path from 'node:path';
import { orAfter } from '../async.ts';
import type { Runtime } from '../context.ts';
import { diagReasons, type DiagReason } from '../diag-reasons.ts';
import { defineSlot } from '../local-slots.ts';
import type { DiskReading } from '../disk-space.ts';
import { repoDirOf } from '../handoff/files.ts';
import type { AuditEvent } from '../audit.ts';
import type { ClockSkewReading } from '../clock-skew.ts';
import { isoDate } from '../clock.ts';
import { hostLiveness, readAllStatus, type HostLiveness, type HostStatus, type StreamStatus } from '../status.ts';
import { PREFLIGHT_SLOT, type CheckResult } from '../preflight.ts';
import { measureBacklog, type Backlog } from '../store/backlog.ts';

export type { Backlog };
import { listAll, type ObjectStore } from '../store/types.ts';
import { NextTasksSource, type NextTasks } from './handover-tasks.ts';
import { RecordsToday, streamKeyOf } from './records-today.ts';
import { COMPACT_LAST_SLOT } from '../lake/capacity.ts';
import { IncidentList, type DataModel } from './dashboard-data-card.tsx';
import { StreamCharts, type StreamSeries } from './stream-charts.ts';
import type { CoverageDay } from './charts.tsx';
import { coverageOfDays, type CoverageRow } from '../dashboard-export/quality-dataset.ts';
import { AUDIT_PREFIX, auditDayPrefix, RAW_PREFIX, symbolKey } from '../keys.ts';

/** Quality summaries are written once a day: the strip reads them again at most this often. */
const COVERAGE_REREAD_MS = 60_000;
const DAY_MS = 86_400_000;

/** A store read slower than this is shown as unavailable instead of holding the page. */
const READ_DEADLINE_MS = 3_000;
/** Audit events shown on the page. */
const AUDIT_ROWS = 50;
/** Audit segments of other hosts read per refresh (newest first); segments are immutable, so cached. */
const OTHER_HOST_SEGMENTS = 2;
/**
 * This host's own segments read per refresh. CLI commands on this PC share the host name and the
 * audit WAL but not the server's memory: their events only reach the page through the shipped
 * segments. The server ships after every run, so more of its own segments are looked at.
 */
const OWN_HOST_SEGMENTS = 8;
const SEGMENT_CACHE_LIMIT = 64;
export interface SyncRetryOutcome {
  at: number;
  ok: boolean;
  running: boolean;
  message: string;
}
/** The last Retry sync outcome: written by the page's Retry button (runtime/http/dashboard-routes.tsx), read by the Sync card. */
export const SYNC_RETRY_SLOT = defineSlot<SyncRetryOutcome>('dashboard.syncRetry');

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
    secondaryDescribe: string;
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

/** One per runtime: holds the caches that keep refreshes cheap. */
export class DashboardData {
  private readonly runtime: Runtime;
  private readonly nextTasks: NextTasksSource;
  private readonly segmentCache = new Map<string, AuditEvent[]>();
  /** Other hosts as last read from the primary, shown (marked) while the primary is down. */
  private lastOthers: { rows: HostRow[]; at: number } | null = null;
  private readonly recordsToday: RecordsToday;
  private readonly incidents: IncidentList;
  private readonly charts: StreamCharts;
  private coverageCache: { at: number; today: string; rows: CoverageRow[] } | null = null;

  /** `handoverFile`: replaces the operator's handover file (tests); default handoff.handoverFile under handoff.repoDir. */
  constructor(runtime: Runtime, options: { handoverFile?: string } = {}) {
    this.runtime = runtime;
    const { handoverFile } = runtime.loaded.config.handoff;
    this.nextTasks = new NextTasksSource(runtime.store, options.handoverFile ?? path.resolve(repoDirOf(runtime.loaded.config), handoverFile));
    this.recordsToday = new RecordsToday(runtime.store);
    this.incidents = new IncidentList(runtime.store);
    this.charts = new StreamCharts(runtime.store);
  }

  /** The last 7 days of each stream's coverage (oldest first); a day without a summary has ratio null. */
  private async coverage(streams: Array<{ exchange: string; topic: string; symbol: string }>, now: number): Promise<Map<string, CoverageDay[]>> {
    const dates = Array.from({ length: 7 }, (_, i) => isoDate(now - (6 - i) * DAY_MS));
    const today = dates[6]!;
    if (!this.coverageCache || this.coverageCache.today !== today || now - this.coverageCache.at >= COVERAGE_REREAD_MS) {
      this.coverageCache = { at: now, today, rows: await coverageOfDays(this.runtime.store, dates) };
    }
    const rows = this.coverageCache.rows;
    const out = new Map<string, CoverageDay[]>();
    for (const s of streams) {
      const name = `${s.exchange}/${s.topic}/${symbolKey(s.symbol)}`;
      out.set(
        streamKeyOf(s),
        dates.map((date) => {
          const r = rows.find((x) => x.date === date && x.stream === name);
          return r
            ? { date, ratio: r.coverage_ratio, threshold: r.coverage_threshold, lostGaps: r.gaps_missed + r.gaps_unfillable }
            : { date, ratio: null, threshold: null, lostGaps: 0 };
        }),
      );
    }
    return out;
  }

  async model(): Promise<DashboardModel> {
    const rt = this.runtime;
    const now = rt.clock.now();
    const state = rt.store.state();
    const [hosts, backlog, shipped, nextTasks, incidents] = await Promise.all([
      deadline(readAllStatus(rt.store), null),
      deadline(measureBacklog(rt.store.secondary), null),
      deadline(this.shippedAudit(now), null),
      deadline(this.nextTasks.load(), { source: null, tasks: [], note: 'handover not readable in time (storage slow?)' }),
      deadline(this.incidents.ids(now), null),
    ]);
    const selfStatus: HostRow = {
      ...rt.status.current(),
      self: true,
      liveness: { state: 'running', ageMs: now - Date.parse(rt.status.current().updated_at) },
      mode: rt.mode.get(),
      leader: {
        host: rt.lease.leaderHost,
        since: rt.lease.since === null ? null : new Date(rt.lease.since).toISOString(),
        active: rt.lease.holder,
        epoch: rt.lease.epoch,
      },
      storage: { ...rt.status.current().storage, primary: state.primary, secondary: state.secondary, cause: state.cause },
    };
    const hostErrors = hosts ? hosts.errors.map((e) => `${e.key}: ${e.error}`) : ['status of other hosts not readable in time (primary slow?)'];
    let others: HostRow[] = (hosts?.hosts ?? []).filter((h) => h.host !== rt.host).map((h) => ({ ...h, self: false, liveness: hostLiveness(h, now) }));
    // With the primary down the router reads the local cache, which only knows this host.
    if (state.primary === 'up' && hosts) this.lastOthers = { rows: others, at: now };
    else if (this.lastOthers && this.lastOthers.rows.length > 0) {
      // Re-judged against now: a row kept from before the outage ages like any other.
      others = this.lastOthers.rows.map((h) => ({ ...h, liveness: hostLiveness(h, now) }));
      hostErrors.push(`primary down: other hosts as last seen at ${new Date(this.lastOthers.at).toISOString()}`);
    }
    const rows: HostRow[] = [selfStatus, ...others].sort((a, b) => a.host.localeCompare(b.host));
    // The collector's rows do not carry records_today; today's raw segments in the store do.
    const missing = rows.flatMap((h) => h.streams.filter((s) => s.records_today === undefined));
    // A count that misses the deadline goes on; meanwhile the last finished count of today is shown.
    const counted = missing.length ? ((await deadline(this.recordsToday.counts(missing, now), null)) ?? this.recordsToday.lastKnown(missing, now)) : null;
    const allStreams = rows.flatMap((h) => h.streams);
    const [charts, coverage] = await Promise.all([
      deadline(this.charts.series(allStreams, now), new Map<string, StreamSeries>()),
      deadline(this.coverage(allStreams, now), new Map<string, CoverageDay[]>()),
    ]);
    const retry = rt.local.get(SYNC_RETRY_SLOT) ?? null;
    return {
      now,
      host: rt.host,
      mode: rt.mode.get(),
      leader: { host: rt.lease.leaderHost, epoch: rt.lease.epoch, since: rt.lease.since, self: rt.lease.holder, degraded: rt.lease.degraded },
      storage: {
        primary: state.primary,
        secondary: state.secondary,
        cause: state.cause,
        primaryDescribe: rt.store.primary.describe,
        secondaryDescribe: rt.store.secondary.describe,
        clockSkew: rt.clockSkew.reading(),
        disk: await rt.disk.read(),
        lastProbe: state.lastProbe && { ok: state.lastProbe.ok, at: state.lastProbe.at, error: state.lastProbe.error && rt.masker.text(state.lastProbe.error) },
        conditionalWrites: rt.masker.text(state.conditionalWrites),
      },
      sync: {
        pending: state.syncPending || selfStatus.sync.pending,
        backlog: backlog ?? { error: 'local cache not readable in time' },
        last: selfStatus.sync.last,
        available: rt.invoker.has('sync'),
        running: rt.invoker.isRunning('sync'),
        retry,
      },
      hosts: rows,
      hostErrors,
      diagReasons: diagReasons(rt),
      streams: rows.flatMap((h) =>
        h.streams.map((s) => ({ ...s, host: h.host, records_today: s.records_today ?? counted?.get(streamKeyOf(s)) })),
      ),
      configuredStreams: rt.loaded.config.collector.streams.length,
      audit: mergeAudit(rt.audit.recentEvents(AUDIT_ROWS), shipped ?? []),
      auditNote: shipped === null ? 'shipped audit events (other hosts, CLI commands) not readable in time' : undefined,
      nextTasks,
      console: consoleLinks(rt),
      handoffAvailable: rt.invoker.has('handoff'),
      preflightFailures: preflightFailures(rt),
      insecureNoToken: rt.local.get(INSECURE_NO_TOKEN_SLOT) === true,
      tokenSet: Boolean(rt.loaded.secrets.BTC_TS_API_TOKEN),
      data: { last: rt.local.get(COMPACT_LAST_SLOT) ?? null, incidents },
      charts,
      coverage,
    };
  }

  /**
   * Today's shipped audit events from audit/dt=<today>/: the newest segments of every host,
   * this one's included (its CLI commands' events are only there).
   */
  private async shippedAudit(now: number): Promise<AuditEvent[]> {
    const newestByHost = new Map<string, string[]>();
    for await (const info of listAll(this.runtime.store, auditDayPrefix(isoDate(now)))) {
      const match = /\/([^/]+)-(\d{12})\.jsonl$/.exec(info.key);
      if (!match) continue;
      const keys = newestByHost.get(match[1]!) ?? [];
      keys.push(info.key);
      newestByHost.set(match[1]!, keys.slice(match[1] === this.runtime.host ? -OWN_HOST_SEGMENTS : -OTHER_HOST_SEGMENTS));
    }
    const events: AuditEvent[] = [];
    for (const keys of newestByHost.values()) {
      for (const key of keys) events.push(...(await this.readSegment(key)));
    }
    return events;
  }

  private async readSegment(key: string): Promise<AuditEvent[]> {
    const cached = this.segmentCache.get(key);
    if (cached) return cached;
    const got = await this.runtime.store.getOrNull(key);
    const events: AuditEvent[] = [];
    for (const line of got?.body.toString('utf8').split('\n') ?? []) {
      try {
        const e = JSON.parse(line) as AuditEvent;
        if (typeof e.ts === 'number' && typeof e.event === 'string') events.push(e);
      } catch {
        // a torn or foreign line: skip it, the rest is still worth showing
      }
    }
    if (this.segmentCache.size >= SEGMENT_CACHE_LIMIT) this.segmentCache.delete(this.segmentCache.keys().next().value!);
    this.segmentCache.set(key, events);
    return events;
  }
}

/**
 * Newest first, at most AUDIT_ROWS. An event of this host is both in memory and, once shipped, in
 * a segment: one host's seq is unique (server and CLI share it), so host + seq identifies it.
 */
function mergeAudit(own: AuditEvent[], shipped: AuditEvent[]): AuditEvent[] {
  const seen = new Set<string>();
  const merged: AuditEvent[] = [];
  for (const e of [...own, ...shipped]) {
    const seq = (e as { seq?: unknown }).seq;
    const id = typeof seq === 'number' ? `${e.host}\n${seq}` : null;
    if (id !== null && seen.has(id)) continue;
    if (id !== null) seen.add(id);
    merged.push(e);
  }
  return merged.sort((a, b) => b.ts - a.ts).slice(0, AUDIT_ROWS);
}

/**
 * MinIO console links for raw/ and audit/. The pinned console's object browser takes the prefix
 * as a plain path, `/browser/<bucket>/<prefix>/`; the older base64 form opens the bucket root.
 */
function consoleLinks(rt: Runtime): DashboardModel['console'] {
  const s3 = rt.loaded.config.storage.s3;
  if (!s3.endpoint) return null;
  if (!s3.consoleUrl) return { hint: 'set storage.s3.consoleUrl (or BTC_TS_S3_CONSOLE_URL) to link the MinIO console here' };
  const base = `${s3.consoleUrl.replace(/\/+$/, '')}/browser/${encodeURIComponent(s3.bucket)}/`;
  const prefixLink = (prefix: string) => base + prefix.split('/').map(encodeURIComponent).join('/');
  return { raw: prefixLink(RAW_PREFIX), audit: prefixLink(AUDIT_PREFIX) };
}

/** The last preflight's failing checks while the runtime is in DEBUG; null in PROD/DIAG or before any preflight. */
function preflightFailures(rt: Runtime): DashboardModel['preflightFailures'] {
  const last = rt.local.get(PREFLIGHT_SLOT);
  if (!last || rt.mode.get() !== 'DEBUG') return null;
  const failed = last.results.filter((r) => !r.ok);
  return failed.length ? { at: last.at, failed } : null;
}

/** The value, or `fallback` when it takes longer than READ_DEADLINE_MS or fails. */
async function deadline<T, F>(promise: Promise<T>, fallback: F): Promise<T | F> {
  return orAfter(promise.catch(() => fallback), READ_DEADLINE_MS, fallback);
}
