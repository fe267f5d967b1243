// runtime/http/dashboard-sections.tsx
// The dashboard's lower sections: hosts, stream cards, next tasks, object links, handoff, recent audit events.

import type { DashboardModel, HostRow } from './dashboard-model.ts';
import { ModeBadge, signedMs, State } from './dashboard-cards.tsx';
import { age, bytes, iso, shorten } from './format.ts';
import { CoverageStrip, Sparkline } from './charts.tsx';
import { streamKeyOf } from './records-today.ts';
import { STREAMS_EXAMPLE } from '../collector/first-run.ts';

/** The card's charts: records per minute, lag p50/p99, the ticker's price (last hour), and the 7-day coverage strip. */
function StreamCharts({ model, stream }: { model: DashboardModel; stream: DashboardModel['streams'][number] }) {
  const key = streamKeyOf(stream);
  const series = model.charts.get(key);
  const coverage = model.coverage.get(key);
  return (
    <div class="charts" data-stream={key}>
      {series ? (
        <>
          <Sparkline testid="chart-records" label="records/min" lines={[{ name: 'records', color: '#0969da', values: series.records }]} />
          <Sparkline
            testid="chart-lag"
            label="lag"
            unit="ms"
            lines={[
              { name: 'p50', color: '#1a7f37', values: series.lagP50 },
              { name: 'p99', color: '#bf8700', values: series.lagP99 },
            ]}
          />
          {stream.topic === 'ticker' ? <Sparkline testid="chart-price" label="price" lines={[{ name: 'last', color: '#8250df', values: series.price }]} /> : null}
        </>
      ) : (
        <p class="muted">charts: raw/ not readable in time</p>
      )}
      {coverage ? <CoverageStrip testid="coverage-strip" days={coverage} /> : null}
    </div>
  );
}

const PAYLOAD_CHARS = 160;

export function HostsSection({ model }: { model: DashboardModel }) {
  return (
    <section class="card wide" aria-labelledby="h-hosts">
      <h2 id="h-hosts">Hosts</h2>
      <div class="table-wrap">
        <table class="stack" data-testid="hosts">
          <thead>
            <tr>
              <th scope="col">Host</th>
              <th scope="col">State</th>
              <th scope="col">Mode</th>
              <th scope="col">Leader</th>
              <th scope="col">Primary</th>
              <th scope="col">Cache</th>
              <th scope="col">Sync</th>
              <th scope="col">Streams ok</th>
              <th scope="col">Updated</th>
              <th scope="col">Clock</th>
              <th scope="col">Disk free</th>
            </tr>
          </thead>
          <tbody>
            {model.hosts.map((h) => (
              <HostRowView host={h} />
            ))}
          </tbody>
        </table>
      </div>
      {model.hostErrors.map((e) => (
        <p class="muted">{e}</p>
      ))}
    </section>
  );
}

function HostRowView({ host }: { host: HostRow }) {
  return (
    <tr data-host={host.host}>
      <th scope="row">
        {host.host}
        {host.self ? ' (this runtime)' : ''}
      </th>
      <td data-label="State" data-testid="host-state">
        <State tone={host.liveness.state === 'running' ? 'ok' : host.liveness.state === 'stopped' ? 'idle' : 'bad'} text={host.liveness.state} />
      </td>
      <td data-label="Mode">
        <ModeBadge mode={host.mode} />
      </td>
      <td data-label="Leader">
        {host.leader.active ? 'leader' : `standby${host.leader.host ? ` (leader ${host.leader.host})` : ''}`}
        {host.leader.epoch !== undefined ? ` · epoch ${host.leader.epoch}` : ''}
        <HostShards host={host} />
      </td>
      <td data-label="Primary">
        <State tone={host.storage.primary === 'up' ? 'ok' : 'bad'} text={host.storage.primary + (host.storage.primary === 'down' && host.storage.cause ? ` (${host.storage.cause})` : '')} />
      </td>
      <td data-label="Cache">{host.storage.secondary}</td>
      <td data-label="Sync">{host.sync.pending ? 'pending' : 'idle'}</td>
      <td data-label="Streams ok">
        {host.streams.filter((s) => s.ok).length}/{host.streams.length}
      </td>
      <td data-label="Updated">
        {host.updated_at}
        {host.liveness.ageMs === null ? '' : ` (${age(host.liveness.ageMs)})`}
      </td>
      <td data-label="Clock" data-testid="host-clock-skew">
        {host.clock_skew_ms === undefined || host.clock_skew_ms === null ? '—' : `clock_skew_ms ${signedMs(host.clock_skew_ms)}`}
      </td>
      <td data-label="Disk free" data-testid="host-disk-free">
        {host.disk_free_bytes === undefined || host.disk_free_bytes === null ? '—' : bytes(host.disk_free_bytes)}
      </td>
    </tr>
  );
}

export function StreamsSection({ model }: { model: DashboardModel }) {
  return (
    <section class="wide" aria-labelledby="h-streams">
      <h2 id="h-streams">Streams</h2>
      {model.streams.length === 0 && model.configuredStreams === 0 ? (
        <div class="card" data-testid="no-streams-configured">
          <p>
            No stream is configured: this runtime collects nothing. Two ways on: try <code>npm start -- --demo</code> (a bundled exchange emulator,
            offline), or add streams under <code>collector.streams</code> in <code>config/app.yaml</code> (docs/collector.md), for example:
          </p>
          <pre>{`collector:\n  streams:\n    - ${STREAMS_EXAMPLE}`}</pre>
        </div>
      ) : model.streams.length === 0 ? (
        <p class="muted card">No stream has reported yet (the collector writes one row per stream into its status).</p>
      ) : (
        <div class="grid">
          {model.streams.map((s) => (
            <article class="card" data-testid="stream-card" data-ok={String(s.ok)}>
              <h3>
                {s.exchange} · {s.topic} · {s.symbol}
              </h3>
              <p>
                <State tone={s.ok ? 'ok' : 'bad'} text={s.ok ? 'ok' : 'failing'} />
              </p>
              <dl>
                <dt>Cause</dt>
                <dd>{s.cause ?? '—'}</dd>
                <dt>Retries</dt>
                <dd>{s.retries}</dd>
                <dt>Last ok</dt>
                <dd>{s.last_ok_ms === null ? 'never' : age(model.now - s.last_ok_ms)}</dd>
                <dt>Records today</dt>
                <dd>{s.records_today ?? '—'}</dd>
                <dt>Host</dt>
                <dd>{s.host}</dd>
                {s.notes.length ? (
                  <>
                    <dt>Notes</dt>
                    <dd>{s.notes.join('; ')}</dd>
                  </>
                ) : null}
              </dl>
              <StreamCharts model={model} stream={s} />
            </article>
          ))}
        </div>
      )}
    </section>
  );
}

export function NextTasksCard({ model }: { model: DashboardModel }) {
  const { nextTasks } = model;
  return (
    <section class="card" aria-labelledby="h-todo">
      <h2 id="h-todo">Next tasks (ToDo)</h2>
      {nextTasks.tasks.length ? (
        <ul class="tasks" data-testid="next-tasks">
          {nextTasks.tasks.map((t) => (
            <li class={t.done ? 'done' : ''}>
              {t.done ? '(done) ' : ''}
              {t.text}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">No next tasks found.</p>
      )}
      <p class="muted">
        {nextTasks.source ? `From ${nextTasks.source}` : ''}
        {nextTasks.note ? ` (${nextTasks.note})` : ''}
      </p>
    </section>
  );
}

export function ObjectsCard({ model }: { model: DashboardModel }) {
  const links = model.console;
  return (
    <section class="card" aria-labelledby="h-objects">
      <h2 id="h-objects">Objects</h2>
      {links === null ? (
        <p class="muted">
          The primary is the embedded directory <code>{model.storage.primaryDescribe}</code>: browse <code>raw/</code> and <code>audit/</code> there.
        </p>
      ) : 'hint' in links ? (
        <p class="muted">{links.hint}</p>
      ) : (
        <ul>
          <li>
            <a href={links.raw} target="_blank" rel="noopener">
              raw/ in the MinIO console
            </a>
          </li>
          <li>
            <a href={links.audit} target="_blank" rel="noopener">
              audit/ in the MinIO console
            </a>
          </li>
        </ul>
      )}
    </section>
  );
}

export function HandoffCard({ model }: { model: DashboardModel }) {
  return (
    <section class="card" aria-labelledby="h-handoff">
      <h2 id="h-handoff">Handoff</h2>
      <form method="post" action="/ui/handoff">
        <button type="submit" class="secondary" data-testid="make-handoff">
          Make handoff (download zip)
        </button>
      </form>
      {model.handoffAvailable ? null : <p class="muted">The handoff function is not installed on this runtime yet.</p>}
    </section>
  );
}

export function AuditSection({ model }: { model: DashboardModel }) {
  return (
    <section class="card wide" aria-labelledby="h-audit">
      <h2 id="h-audit">Recent audit events</h2>
      {model.auditNote ? <p class="muted">{model.auditNote}</p> : null}
      <div class="table-wrap">
        <table class="stack" data-testid="audit">
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Host</th>
              <th scope="col">Event</th>
              <th scope="col">Payload</th>
            </tr>
          </thead>
          <tbody>
            {model.audit.map((e) => (
              <tr>
                <td data-label="Time (UTC)">{iso(e.ts)}</td>
                <td data-label="Host">{e.host}</td>
                <td data-label="Event">
                  <code>{e.event}</code>
                </td>
                <td data-label="Payload">
                  <code>{shorten(JSON.stringify(e.payload), PAYLOAD_CHARS)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}


/**
 * collector.shards > 1: the shards this host holds, with their epochs, from its status document's
 * `shards` block (docs/leader.md); with lease.preferredShards also the shards it is preferred for,
 * who holds each now, and whether it may ask for them back yet.
 */
function HostShards({ host }: { host: HostRow }) {
  type Row = { shard: number; epoch: number; self: boolean; host?: string | null; preferred?: string | null };
  type Preference = { shards: number[]; settled: boolean; settle_ms: number; flaps: number; conflicts: string[] };
  const block = (host as { shards?: { count?: number; rows?: Row[]; preference?: Preference | null } }).shards;
  if (!block?.rows) return null;
  const held = block.rows.filter((r) => r.self);
  const pref = block.preference;
  const elsewhere = pref ? block.rows.filter((r) => pref.shards.includes(r.shard) && !r.self) : [];
  return (
    <>
      <div data-testid="host-shards">
        {held.length ? `shards ${held.map((r) => `${r.shard} (epoch ${r.epoch})`).join(', ')} of ${block.count ?? block.rows.length}` : `no shard of ${block.count ?? block.rows.length}`}
      </div>
      {pref && pref.shards.length > 0 && (
        <div data-testid="host-shard-preference" class={elsewhere.length ? 'warn' : undefined}>
          {`prefers ${pref.shards.join(', ')}`}
          {elsewhere.length
            ? `; ${elsewhere.map((r) => `${r.shard} held by ${r.host ?? 'nobody'}`).join(', ')}; ${pref.settled ? 'asking for them back' : `asks back after ${Math.round(pref.settle_ms / 1000)} s live`}${pref.flaps ? ` (flapped ${pref.flaps}×)` : ''}`
            : '; holds them all'}
        </div>
      )}
      {pref && pref.conflicts.length > 0 && <div data-testid="host-shard-conflicts" class="bad">{`preferred by two runtimes (configs differ): ${pref.conflicts.join('; ')}`}</div>}
    </>
  );
}
