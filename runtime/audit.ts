// runtime/audit.ts
// The audit trail: events appended durably per host, shipped as audit/dt=<date>/<host>-<firstSeq>.jsonl.

import path from 'node:path';
import type { AuditEventName, AuditEvents } from './audit-events.ts';
import type { Clock } from './clock.ts';
import { diskCauseOf } from './durable.ts';
import type { Logger } from './logger.ts';
import type { Masker } from './secrets.ts';
import { SegmentLog, type ShipOutcome } from './segments.ts';
import type { ObjectStore } from './store/types.ts';
import { auditSegmentKey } from './keys.ts';

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

export class AuditLog {
  private readonly segments: SegmentLog<AuditEvent>;
  private readonly recent: Array<AuditEvent & { seq: number }> = [];
  private readonly listeners = new Set<(event: AuditEvent & { seq: number }) => void>();
  private readonly options: AuditOptions;
  /** How many recent events stay in memory for the dashboard. */
  static readonly RECENT_LIMIT = 200;
  /** How many events are held in memory while the disk is full (about 1 KiB each). */
  static readonly HELD_LIMIT = 10_000;
  /** Events not yet on disk, oldest first (see record()). */
  private readonly held: AuditEvent[] = [];
  private dropped = 0;
  private holding = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(options: AuditOptions) {
    this.options = options;
    this.segments = new SegmentLog<AuditEvent>({
      dir: path.join(options.walDir, 'audit'),
      keyFor: (first, firstSeq) => auditSegmentKey(options.host, first.ts, firstSeq),
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

  /**
   * Records one event durably (fsync) with secrets masked; resolves once it is on disk. When the
   * disk is full or failing (durable.ts diskCauseOf) the event is held in memory, in order, the
   * call resolves, the log says so, and held events are written first by the next record() or
   * ship() that finds room. At most HELD_LIMIT are held; past that the oldest are dropped and an
   * `audit.events_dropped { count }` event says how many once the disk takes writes again.
   * Any other failure rejects, as before.
   */
  record<E extends AuditEventName>(event: E, payload: AuditEvents[E]): Promise<void> {
    const { host, actor, site, clock, masker } = this.options;
    const entry: AuditEvent = { ts: clock.now(), event, host, actor, site, payload: masker.value(payload) };
    this.held.push(entry);
    const run = this.writing.then(() => this.writeHeld(entry));
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Events waiting in memory for room on the disk (0 when the disk takes writes). */
  heldEvents(): number {
    return this.held.length;
  }

  /** Writes every held event in one append (serialised by `writing`); `own` is the caller's event, if any. */
  private async writeHeld(own?: AuditEvent): Promise<void> {
    if (this.held.length > AuditLog.HELD_LIMIT) {
      this.dropped += this.held.length - AuditLog.HELD_LIMIT;
      this.held.splice(0, this.held.length - AuditLog.HELD_LIMIT);
    }
    if (this.held.length === 0) return;
    const { host, actor, site, clock, log } = this.options;
    const batch = this.held.slice();
    if (this.dropped > 0) batch.unshift({ ts: clock.now(), event: 'audit.events_dropped', host, actor, site, payload: { count: this.dropped } });
    let written: Array<AuditEvent & { seq: number }>;
    try {
      written = await this.segments.append(batch);
    } catch (err) {
      const cause = diskCauseOf(err);
      if (!cause) {
        // Not a disk that is full: the caller learns of the failure, as before, and its event goes.
        const index = own ? this.held.indexOf(own) : -1;
        if (index >= 0) this.held.splice(index, 1);
        throw err;
      }
      if (!this.holding) log.error({ cause, held: this.held.length, err: String(err) }, 'audit events held in memory until the disk takes writes again');
      this.holding = true;
      return;
    }
    this.held.splice(0, batch.length - (this.dropped > 0 ? 1 : 0));
    this.dropped = 0;
    if (this.holding) log.warn({ written: written.length }, 'audit events held in memory are written');
    this.holding = false;
    for (const entry of written) {
      this.recent.push(entry);
      if (this.recent.length > AuditLog.RECENT_LIMIT) this.recent.shift();
      for (const listener of this.listeners) listener(entry);
      log.info({ audit: entry.event, ...entry.payload }, `audit ${entry.event}`);
    }
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
  async ship(store: ObjectStore): Promise<ShipOutcome[]> {
    // Events held through a full disk go first, so they ship with this run.
    const held = this.writing.then(() => this.writeHeld());
    this.writing = held.catch(() => undefined);
    await held.catch(() => undefined);
    return this.segments.ship(store);
  }
}
