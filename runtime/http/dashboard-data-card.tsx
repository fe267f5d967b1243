// runtime/http/dashboard-data-card.tsx
// The dashboard's Data card: last compaction, bucket size, growth and the day the NAS is full, and the incident folders.

import type { DashboardModel } from './dashboard-model.ts';

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
