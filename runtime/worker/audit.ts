// runtime/worker/audit.ts
// The audit trail of a worker: every event is its own object, written create-only straight to the store (no disk, no write-ahead log).

import type { AuditEventName, AuditEvents } from '../audit-events.ts';
import type { AuditEvent } from '../audit.ts';
import type { Clock } from '../clock.ts';
import type { AuditTrail } from '../define.ts';
import { isBtcError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Masker } from '../secrets.ts';
import type { ShipOutcome } from '../segments.ts';
import type { ObjectStore } from '../store/types.ts';
import { auditSegmentKey } from '../keys.ts';

/** A key taken by another isolate of the same host in the same ms: try the next seq, this many times. */
const CLASH_RETRIES = 8;

export interface StoreAuditOptions {
  host: string;
  actor: string;
  site: string;
  clock: Clock;
  masker: Masker;
  log: Logger;
  /** The primary: audit is never routed to a cache a worker does not have. */
  store: ObjectStore;
}

/**
 * Under Node an event is fsynced into the write-ahead log and shipped later as a segment; a worker
 * has no disk, so `record` resolves only once the event is an object in the store:
 * `audit/dt=<date>/<host>-<seq>.jsonl` (the same key scheme and line shape, one line per object).
 * The seq is the event's wall-clock ms (never lower than the previous one of this isolate), so keys
 * sort by time; the put is create-only, so two isolates never overwrite each other's event.
 * @throws BtcError (Unavailable, …) when the store refuses: the duty fails loudly rather than
 *   running without its audit.
 */
export class StoreAudit implements AuditTrail {
  /** How many recent events stay in memory (this isolate's only), like AuditLog.RECENT_LIMIT. */
  static readonly RECENT_LIMIT = 200;
  private lastSeq = 0;
  private readonly recent: Array<AuditEvent & { seq: number }> = [];
  private readonly listeners = new Set<(event: AuditEvent & { seq: number }) => void>();
  private readonly options: StoreAuditOptions;

  constructor(options: StoreAuditOptions) {
    this.options = options;
  }

  async record<E extends AuditEventName>(event: E, payload: AuditEvents[E]): Promise<void> {
    const { host, actor, site, clock, masker, log, store } = this.options;
    const entry: AuditEvent = { ts: clock.now(), event, host, actor, site, payload: masker.value(payload) };
    let seq = Math.max(this.lastSeq + 1, entry.ts);
    for (let attempt = 0; ; attempt++) {
      try {
        await store.put(auditSegmentKey(host, entry.ts, seq), JSON.stringify({ ...entry, seq }) + '\n', { ifNoneMatch: '*', contentType: 'application/x-ndjson' });
        break;
      } catch (err) {
        if (!isBtcError(err, 'PreconditionFailed') || attempt >= CLASH_RETRIES) throw err;
        seq++;
      }
    }
    this.lastSeq = seq;
    const written = { ...entry, seq };
    this.recent.push(written);
    if (this.recent.length > StoreAudit.RECENT_LIMIT) this.recent.shift();
    for (const listener of this.listeners) listener(written);
    log.info({ audit: event, ...entry.payload }, `audit ${event}`);
  }

  /** Calls `listener` with every event this isolate records from now on; returns the unsubscribe. */
  onRecord(listener: (event: AuditEvent & { seq: number }) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** This isolate's recent events, newest first. */
  recentEvents(limit = 50): Array<AuditEvent & { seq: number }> {
    return this.recent.slice(-limit).reverse();
  }

  /** Nothing to ship: every event went to the store when it was recorded. */
  async ship(_store: ObjectStore): Promise<ShipOutcome[]> {
    return [];
  }
}
