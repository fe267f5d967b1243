// runtime/http/dashboard-audit.ts
// The dashboard's audit rows: today's shipped audit segments of every host (cached, immutable) merged with this runtime's own recent events.

import { isoDate } from '../clock.ts';
import type { AuditEvent } from '../audit.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { auditDayPrefix } from '../keys.ts';

/** Audit events shown on the page. */
export const AUDIT_ROWS = 50;
/** Audit segments of other hosts read per refresh (newest first); segments are immutable, so cached. */
const OTHER_HOST_SEGMENTS = 2;
/**
 * This host's own segments read per refresh. CLI commands on this PC share the host name and the
 * audit WAL but not the server's memory: their events only reach the page through the shipped
 * segments. The server ships after every run, so more of its own segments are looked at.
 */
const OWN_HOST_SEGMENTS = 8;
const SEGMENT_CACHE_LIMIT = 64;

/** One per dashboard: the shipped segments read so far, by key. */
export class ShippedAudit {
  private readonly segmentCache = new Map<string, AuditEvent[]>();

  /** `host`: this runtime's host, whose segments are read deeper (OWN_HOST_SEGMENTS). */
  constructor(
    private readonly store: ObjectStore,
    private readonly host: string,
  ) {}

  /**
   * Today's shipped audit events from audit/dt=<today>/: the newest segments of every host,
   * this one's included (its CLI commands' events are only there).
   */
  async events(now: number): Promise<AuditEvent[]> {
    const newestByHost = new Map<string, string[]>();
    for await (const info of listAll(this.store, auditDayPrefix(isoDate(now)))) {
      const match = /\/([^/]+)-(\d{12})\.jsonl$/.exec(info.key);
      if (!match) continue;
      const keys = newestByHost.get(match[1]!) ?? [];
      keys.push(info.key);
      newestByHost.set(match[1]!, keys.slice(match[1] === this.host ? -OWN_HOST_SEGMENTS : -OTHER_HOST_SEGMENTS));
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
    const got = await this.store.getOrNull(key);
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
export function mergeAudit(own: AuditEvent[], shipped: AuditEvent[]): AuditEvent[] {
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
