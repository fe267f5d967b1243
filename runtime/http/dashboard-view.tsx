// runtime/http/dashboard-view.tsx
// The dashboard's HTML (hono/jsx): the page shell and the main partial the page re-fetches every few seconds.

import { raw } from 'hono/html';
import type { DashboardModel, HostRow } from './dashboard-data.ts';
import { Layout } from './layout.tsx';

/** How often the page re-fetches its main partial (JS on) or reloads (JS off). */
export const REFRESH_SECONDS = 3;
const NO_SCRIPT_REFRESH_SECONDS = 10;
const PAYLOAD_CHARS = 160;

export function DashboardPage(props: { model: DashboardModel }) {
  return (
    <Layout
      title={`btc-ts · ${props.model.host}`}
      head={
        <noscript>
          <meta http-equiv="refresh" content={String(NO_SCRIPT_REFRESH_SECONDS)} />
        </noscript>
      }
      nav={
        <nav aria-label="Other pages">
          <a href="/docs">API docs</a>
          <a href="/status">status JSON</a>
          <a href="/metrics">metrics</a>
          <span id="refresh-state" role="status" aria-live="polite"></span>
        </nav>
      }
    >
      <div id="action-message" role="status" aria-live="polite"></div>
      <main id="main" data-refresh-seconds={String(REFRESH_SECONDS)}>
        <DashboardMain model={props.model} />
      </main>
      <script>{raw(REFRESH_SCRIPT)}</script>
    </Layout>
  );
}

/** Everything that changes: served alone by GET /ui/partials/main and swapped in place. */
export function DashboardMain({ model }: { model: DashboardModel }) {
  return (
    <>
      <h2 class="muted" style="font-weight:normal">
        Updated {clock(model.now)} UTC · refreshes every {REFRESH_SECONDS} s
      </h2>
      <div class="grid">
        <RuntimeCard model={model} />
        <LeaderCard model={model} />
        <StorageCard model={model} />
        <SyncCard model={model} />
      </div>
      <HostsSection model={model} />
      <StreamsSection model={model} />
      <div class="grid">
        <NextTasksCard model={model} />
        <ObjectsCard model={model} />
        <HandoffCard model={model} />
      </div>
      <AuditSection model={model} />
    </>
  );
}

export function ModeBadge({ mode, testid }: { mode: string; testid?: string }) {
  return (
    <span class={`badge mode-${mode}`} data-testid={testid}>
      {mode === 'PROD' ? '● ' : mode === 'DIAG' ? '▲ ' : '◆ '}
      {mode}
    </span>
  );
}

/** A state label: the word carries the meaning, the colour only repeats it. */
function State(props: { tone: 'ok' | 'bad' | 'idle' | 'warn'; text: string; testid?: string }) {
  return (
    <span class={`badge ${props.tone}`} data-testid={props.testid}>
      {props.text}
    </span>
  );
}

function RuntimeCard({ model }: { model: DashboardModel }) {
  return (
    <section class="card" aria-labelledby="h-runtime">
      <h2 id="h-runtime">Runtime</h2>
      <dl>
        <dt>Mode</dt>
        <dd>
          <ModeBadge mode={model.mode} testid="mode-badge" />
        </dd>
        <dt>Host</dt>
        <dd data-testid="self-host">{model.host}</dd>
        <dt>Hosts seen</dt>
        <dd>{model.hosts.length}</dd>
      </dl>
    </section>
  );
}

function LeaderCard({ model }: { model: DashboardModel }) {
  const { leader } = model;
  return (
    <section class="card" aria-labelledby="h-leader">
      <h2 id="h-leader">Leader</h2>
      <dl>
        <dt>Host</dt>
        <dd data-testid="leader-host">{leader.host ?? 'none (lease not held)'}</dd>
        <dt>Epoch</dt>
        <dd data-testid="leader-epoch">{leader.epoch}</dd>
        <dt>Since</dt>
        <dd>{leader.since === null ? '—' : `${iso(leader.since)} (${age(model.now - leader.since)})`}</dd>
        <dt>This runtime</dt>
        <dd data-testid="leader-self">
          {leader.self ? <State tone="ok" text="is the leader" /> : <State tone="idle" text="standby" />}
          {leader.degraded ? <State tone="warn" text="degraded: collecting into the cache" /> : null}
        </dd>
      </dl>
    </section>
  );
}

function StorageCard({ model }: { model: DashboardModel }) {
  const { storage } = model;
  return (
    <section class="card" aria-labelledby="h-storage">
      <h2 id="h-storage">Storage</h2>
      <dl>
        <dt>Primary</dt>
        <dd>
          <State tone={storage.primary === 'up' ? 'ok' : 'bad'} text={`primary ${storage.primary}`} testid="primary-state" />{' '}
          <code>{storage.primaryDescribe}</code>
        </dd>
        <dt>Secondary</dt>
        <dd>
          <State tone={storage.secondary === 'used' ? 'warn' : 'idle'} text={storage.secondary === 'used' ? 'cache in use' : 'cache idle'} testid="secondary-state" />{' '}
          <code>{storage.secondaryDescribe}</code>
        </dd>
        <dt>Last probe</dt>
        <dd>
          {storage.lastProbe
            ? `${storage.lastProbe.ok ? 'ok' : `failed: ${storage.lastProbe.error ?? 'unknown'}`} · ${age(model.now - storage.lastProbe.at)}`
            : 'not yet'}
        </dd>
      </dl>
    </section>
  );
}

function SyncCard({ model }: { model: DashboardModel }) {
  const { sync } = model;
  const backlog = 'error' in sync.backlog ? sync.backlog.error : `${sync.backlog.capped ? '≥ ' : ''}${sync.backlog.objects} objects, ${bytes(sync.backlog.bytes)}`;
  return (
    <section class="card" id="sync" aria-labelledby="h-sync">
      <h2 id="h-sync">Sync</h2>
      <dl>
        <dt>State</dt>
        <dd>
          {sync.running ? (
            <State tone="warn" text="sync running" testid="sync-state" />
          ) : sync.pending ? (
            <State tone="warn" text="sync pending" testid="sync-state" />
          ) : (
            <State tone="ok" text="nothing pending" testid="sync-state" />
          )}
        </dd>
        <dt>Backlog</dt>
        <dd data-testid="backlog">{backlog}</dd>
        <dt>Last sync</dt>
        <dd data-testid="last-sync">
          {sync.last ? `${sync.last.ok ? 'ok' : 'failed'} at ${sync.last.at} · ${sync.last.items} items, ${bytes(sync.last.bytes)}` : 'none recorded'}
        </dd>
        <dt>Last retry</dt>
        <dd data-testid="retry-outcome">
          {sync.retry ? `${clock(sync.retry.at)} UTC — ${sync.retry.running ? 'running' : sync.retry.ok ? 'ok' : 'failed'}: ${sync.retry.message}` : '—'}
        </dd>
      </dl>
      <form method="post" action="/ui/sync/retry" data-fetch="sync" style="margin-top:.6rem">
        <button type="submit" data-testid="retry-sync">
          Retry sync
        </button>
        {sync.available ? null : <p class="muted">The sync function is not installed on this runtime yet; the button says so.</p>}
      </form>
    </section>
  );
}

function HostsSection({ model }: { model: DashboardModel }) {
  return (
    <section class="card wide" aria-labelledby="h-hosts">
      <h2 id="h-hosts">Hosts</h2>
      <div class="table-wrap">
        <table data-testid="hosts">
          <thead>
            <tr>
              <th scope="col">Host</th>
              <th scope="col">Mode</th>
              <th scope="col">Leader</th>
              <th scope="col">Primary</th>
              <th scope="col">Cache</th>
              <th scope="col">Sync</th>
              <th scope="col">Streams ok</th>
              <th scope="col">Updated</th>
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
      <td>
        <ModeBadge mode={host.mode} />
      </td>
      <td>
        {host.leader.active ? 'leader' : `standby${host.leader.host ? ` (leader ${host.leader.host})` : ''}`}
        {host.leader.epoch !== undefined ? ` · epoch ${host.leader.epoch}` : ''}
      </td>
      <td>
        <State tone={host.storage.primary === 'up' ? 'ok' : 'bad'} text={host.storage.primary} />
      </td>
      <td>{host.storage.secondary}</td>
      <td>{host.sync.pending ? 'pending' : 'idle'}</td>
      <td>
        {host.streams.filter((s) => s.ok).length}/{host.streams.length}
      </td>
      <td>{host.updated_at}</td>
    </tr>
  );
}

function StreamsSection({ model }: { model: DashboardModel }) {
  return (
    <section class="wide" aria-labelledby="h-streams">
      <h2 id="h-streams">Streams</h2>
      {model.streams.length === 0 ? (
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
            </article>
          ))}
        </div>
      )}
    </section>
  );
}

function NextTasksCard({ model }: { model: DashboardModel }) {
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

function ObjectsCard({ model }: { model: DashboardModel }) {
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

function HandoffCard({ model }: { model: DashboardModel }) {
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

function AuditSection({ model }: { model: DashboardModel }) {
  return (
    <section class="card wide" aria-labelledby="h-audit">
      <h2 id="h-audit">Recent audit events</h2>
      {model.auditNote ? <p class="muted">{model.auditNote}</p> : null}
      <div class="table-wrap">
        <table data-testid="audit">
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
                <td>{iso(e.ts)}</td>
                <td>{e.host}</td>
                <td>
                  <code>{e.event}</code>
                </td>
                <td>
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
 * Swaps in the main partial every few seconds without a full reload, and sends the Retry sync
 * form with fetch so the result shows in place. With JS off the forms post normally and the
 * <noscript> meta refresh reloads the page.
 */
const REFRESH_SCRIPT = `(() => {
  const main = document.getElementById('main');
  const state = document.getElementById('refresh-state');
  const message = document.getElementById('action-message');
  const every = Number(main.dataset.refreshSeconds || 3) * 1000;
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch('/ui/partials/main', { headers: { accept: 'text/html' }, cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      main.innerHTML = await res.text();
      state.textContent = 'live';
    } catch (err) {
      state.textContent = 'refresh failed (' + err.message + '); retrying';
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, every);
  document.addEventListener('submit', async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.fetch) return;
    event.preventDefault();
    const button = form.querySelector('button');
    if (button) button.disabled = true;
    message.textContent = 'Working…';
    try {
      const res = await fetch(form.action, { method: 'POST', headers: { accept: 'application/json' } });
      const body = await res.json().catch(() => ({}));
      message.textContent = body.message || ('HTTP ' + res.status);
    } catch (err) {
      message.textContent = 'Request failed: ' + err.message;
    } finally {
      if (button) button.disabled = false;
      refresh();
    }
  });
})();`;

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function age(ms: number): string {
  if (ms < 0) return 'just now (clock ahead)';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${(s / 86_400).toFixed(1)} d ago`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function shorten(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
