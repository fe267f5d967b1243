// runtime/http/dashboard-data-card.tsx
// The dashboard's Data card: last compaction, bucket size, growth and the day the NAS is full, and the incident folders.

import { listAll, type ObjectStore } from '../store/types.ts';
import type { CompactLast } from '../lake/capacity.ts';
import type { DashboardModel } from './dashboard-data.ts';
import { INCIDENTS_PREFIX, parseIncidentDocKey } from '../keys.ts';

export interface DataModel {
  last: CompactLast | null;
  /** Newest first; null when the listing did not answer in time. */
  incidents: string[] | null;
}

const INCIDENTS_SHOWN = 10;
const INCIDENTS_CACHE_MS = 60_000;

/** Incident ids (folders with an incident.json), listed at most once a minute. */
export class IncidentList {
  private cached: { at: number; ids: string[] } | null = null;
  constructor(private readonly store: ObjectStore) {}

  async ids(now: number): Promise<string[]> {
    if (this.cached && now - this.cached.at < INCIDENTS_CACHE_MS) return this.cached.ids;
    const found: Array<{ id: string; at: number }> = [];
    for await (const o of listAll(this.store, INCIDENTS_PREFIX, 1000, { etags: false })) {
      const id = parseIncidentDocKey(o.key);
      if (id) found.push({ id, at: o.lastModified });
    }
    const ids = found.sort((a, b) => b.at - a.at).slice(0, INCIDENTS_SHOWN).map((f) => f.id);
    this.cached = { at: now, ids };
    return ids;
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function DataCard({ model }: { model: DashboardModel }) {
  const { last, incidents } = model.data;
  const cap = last?.capacity ?? null;
  return (
    <section class="card" aria-labelledby="h-data">
      <h2 id="h-data">Data</h2>
      <dl>
        <dt>Last compaction</dt>
        <dd data-testid="compact-last">
          {last
            ? `${new Date(last.at).toISOString().slice(0, 16).replace('T', ' ')} UTC · ${last.ok ? 'ok' : `${last.failed} failed`} · ${last.compacted} stream-day(s), ${last.rows} rows` +
              (last.raw_deleted === null ? '' : ` · ${last.raw_deleted} raw object(s) deleted`)
            : 'not on this runtime since it started (runtime compact)'}
        </dd>
        <dt>Bucket</dt>
        <dd data-testid="capacity">
          {cap
            ? `${mb(cap.total_bytes)} · growth ${mb(cap.growth_bytes_per_day)}/day` +
              (cap.compression_ratio === null ? '' : ` · Parquet ${cap.compression_ratio.toFixed(1)}× smaller`) +
              (cap.full_at === null ? ' · no full date (storage.capacityBytes unset or no growth)' : ` · full on ${cap.full_at.slice(0, 10)} (${Math.floor(cap.days_until_full!)} days)`)
            : 'measured by the next compaction (runtime capacity)'}
        </dd>
        <dt>Incidents</dt>
        <dd data-testid="incidents">{incidents === null ? 'not readable in time' : incidents.length ? incidents.join(', ') : 'none (runtime incident make)'}</dd>
      </dl>
    </section>
  );
}
