// runtime/audit.ts
// The audit trail: events appended durably per host, shipped as audit/dt=<date>/<host>-<firstSeq>.jsonl.

import path from 'node:path';
import type { Clock } from './clock.ts';
import { isoDate } from './clock.ts';
import type { Logger } from './logger.ts';
import type { Masker } from './secrets.ts';
import { SegmentLog, type ShipOutcome } from './segments.ts';
import type { ObjectStore } from './store/types.ts';

export interface AuditEvent {
  ts: number;
  event: string;
  host: string;
  actor: string;
  site: string;
  payload: Record<string, unknown>;
}

export interface AuditOptions {
  walDir: string;
  host: string;
  actor: string;
  site: string;
  clock: Clock;
  masker: Masker;
  log: Logger;
}

export function auditKey(host: string, firstTs: number, firstSeq: number): string {
  return `audit/dt=${isoDate(firstTs)}/${host}-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

export class AuditLog {
  private readonly segments: SegmentLog<AuditEvent>;
  private readonly recent: Array<AuditEvent & { seq: number }> = [];
  private readonly listeners = new Set<(event: AuditEvent & { seq: number }) => void>();
  private readonly options: AuditOptions;
  /** How many recent events stay in memory for the dashboard. */
  static readonly RECENT_LIMIT = 200;

  constructor(options: AuditOptions) {
    this.options = options;
    this.segments = new SegmentLog<AuditEvent>({
      dir: path.join(options.walDir, 'audit'),
      keyFor: (first, firstSeq) => auditKey(options.host, first.ts, firstSeq),
      // The server and CLI commands of one PC write the same audit trail: one seq, no key clashes.
      shared: true,
    });
  }

  async open(): Promise<void> {
    const report = await this.segments.open();
    if (report.tornBytes > 0) {
      this.options.log.warn({ tornBytes: report.tornBytes }, 'audit segment had a torn last line; cut on start');
      await this.record('audit.segment.torn', { torn_bytes: report.tornBytes, good_records: report.goodRecords, next_seq: report.nextSeq });
    }
  }

  /** Records one event durably (fsync) with secrets masked; resolves once it is on disk. */
  async record(event: string, payload: Record<string, unknown> = {}): Promise<void> {
    const { host, actor, site, clock, masker, log } = this.options;
    const entry: AuditEvent = { ts: clock.now(), event, host, actor, site, payload: masker.value(payload) };
    const [written] = await this.segments.append([entry]);
    this.recent.push(written!);
    if (this.recent.length > AuditLog.RECENT_LIMIT) this.recent.shift();
    for (const listener of this.listeners) listener(written!);
    log.info({ audit: event, ...entry.payload }, `audit ${event}`);
  }

  /** Calls `listener` with every event this process records from now on (the alert rules watch gaps and lease changes); returns the unsubscribe. */
  onRecord(listener: (event: AuditEvent & { seq: number }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Newest first. */
  recentEvents(limit = 50): Array<AuditEvent & { seq: number }> {
    return this.recent.slice(-limit).reverse();
  }

  /** Uploads closed audit segments (to the primary, or the cache when it is down). */
  ship(store: ObjectStore): Promise<ShipOutcome[]> {
    return this.segments.ship(store);
  }
}
