// runtime/http/dashboard-data.ts
// Gathers what the dashboard shows (the model: dashboard-model.ts): live state of this runtime, every host's status, backlog, audit, ToDo.

import path from 'node:path';
import { orAfter } from '../async.ts';
import type { Runtime } from '../context.ts';
import { diagReasons } from '../diag-reasons.ts';
import { repoDirOf } from '../handoff/files.ts';
import { hostLiveness, readAllStatus } from '../status.ts';
import { PREFLIGHT_SLOT } from '../preflight.ts';
import { measureBacklog } from '../store/backlog.ts';
import { COMPACT_LAST_SLOT } from '../lake/capacity.ts';
import { AUDIT_PREFIX, RAW_PREFIX } from '../keys.ts';
import type { CoverageDay } from './charts.tsx';
import { CoverageStrip } from './coverage-strip.ts';
import { AUDIT_ROWS, mergeAudit, ShippedAudit } from './dashboard-audit.ts';
import { INSECURE_NO_TOKEN_SLOT, SYNC_RETRY_SLOT, type DashboardModel, type HostRow } from './dashboard-model.ts';
import { NextTasksSource } from './handover-tasks.ts';
import { IncidentList } from './incident-list.ts';
import { RecordsToday, streamKeyOf } from './records-today.ts';
import { StreamCharts, type StreamSeries } from './stream-charts.ts';

/** A store read slower than this is shown as unavailable instead of holding the page. */
const READ_DEADLINE_MS = 3_000;

/** One per runtime: holds the caches that keep refreshes cheap. */
export class DashboardData {
  private readonly runtime: Runtime;
  private readonly nextTasks: NextTasksSource;
  private readonly shippedAudit: ShippedAudit;
  /** Other hosts as last read from the primary, shown (marked) while the primary is down. */
  private lastOthers: { rows: HostRow[]; at: number } | null = null;
  private readonly recordsToday: RecordsToday;
  private readonly incidents: IncidentList;
  private readonly charts: StreamCharts;
  private readonly coverage: CoverageStrip;

  /** `handoverFile`: replaces the operator's handover file (tests); default handoff.handoverFile under handoff.repoDir. */
  constructor(runtime: Runtime, options: { handoverFile?: string } = {}) {
    this.runtime = runtime;
    const { handoverFile } = runtime.loaded.config.handoff;
    this.nextTasks = new NextTasksSource(runtime.store, options.handoverFile ?? path.resolve(repoDirOf(runtime.loaded.config), handoverFile));
    this.shippedAudit = new ShippedAudit(runtime.store, runtime.host);
    this.recordsToday = new RecordsToday(runtime.store);
    this.incidents = new IncidentList(runtime.store);
    this.charts = new StreamCharts(runtime.store);
    this.coverage = new CoverageStrip(runtime.store);
  }

  async model(): Promise<DashboardModel> {
    const rt = this.runtime;
    const now = rt.clock.now();
    const state = rt.store.state();
    const [hosts, backlog, shipped, nextTasks, incidents] = await Promise.all([
      deadline(readAllStatus(rt.store), null),
      deadline(measureBacklog(rt.store.cache), null),
      deadline(this.shippedAudit.events(now), null),
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
      deadline(this.coverage.days(allStreams, now), new Map<string, CoverageDay[]>()),
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
        cacheDescribe: rt.store.cache.describe,
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
