// runtime/http/dashboard-cards.tsx
// The dashboard's top cards: runtime and mode, leader, storage, sync with the Retry sync button.

import type { DashboardModel } from './dashboard-model.ts';
import { age, bytes, clock, iso } from './format.ts';
import { describeClockSkew } from '../store/server-clock.ts';

export function ModeBadge({ mode, testid }: { mode: string; testid?: string }) {
  return (
    <span class={`badge mode-${mode}`} data-testid={testid}>
      {mode === 'PROD' ? '● ' : mode === 'DIAG' ? '▲ ' : '◆ '}
      {mode}
    </span>
  );
}

/** A state label: the word carries the meaning, the colour only repeats it. */
export function State(props: { tone: 'ok' | 'bad' | 'idle' | 'warn'; text: string; testid?: string }) {
  return (
    <span class={`badge ${props.tone}`} data-testid={props.testid}>
      {props.text}
    </span>
  );
}

export function RuntimeCard({ model }: { model: DashboardModel }) {
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
      {model.preflightFailures ? (
        <div data-testid="preflight-failures">
          <p>
            <State tone="warn" text="stays DEBUG" /> preflight failed ({clock(model.preflightFailures.at)} UTC, retried until it passes):
          </p>
          <ul>
            {model.preflightFailures.failed.map((r) => (
              <li>
                <strong>{r.check}</strong>: {r.detail}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </section>
  );
}

export function LeaderCard({ model }: { model: DashboardModel }) {
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

export function StorageCard({ model }: { model: DashboardModel }) {
  const { storage } = model;
  return (
    <section class="card" aria-labelledby="h-storage">
      <h2 id="h-storage">Storage</h2>
      <dl>
        <dt>Primary</dt>
        <dd>
          <State tone={storage.primary === 'up' ? 'ok' : 'bad'} text={`primary ${storage.primary}${storage.cause ? ` (${storage.cause})` : ''}`} testid="primary-state" />{' '}
          <code>{storage.primaryDescribe}</code>
        </dd>
        <dt>Clock</dt>
        <dd data-testid="clock-skew">
          {storage.clockSkew.skewMs === null ? (
            'not measured yet'
          ) : (
            <>
              <State tone={storage.clockSkew.overLimit ? 'bad' : 'ok'} text={storage.clockSkew.overLimit ? 'this clock is off' : 'in sync'} />{' '}
              {`clock_skew_ms ${signedMs(storage.clockSkew.skewMs)} (${describeClockSkew(storage.clockSkew.skewMs, 'the primary')}; limit ${storage.clockSkew.limitMs / 1000} s)`}
            </>
          )}
        </dd>
        <dt>Disk</dt>
        <dd data-testid="disk-free">
          {storage.disk === null ? (
            'free space unknown (the data directory cannot be measured)'
          ) : (
            <>
              <State tone={storage.disk.low ? 'bad' : 'ok'} text={storage.disk.low ? 'disk nearly full' : 'room'} />{' '}
              {`${bytes(storage.disk.free_bytes)} free of ${bytes(storage.disk.total_bytes)} (warning under ${bytes(storage.disk.warn_bytes)})`}
            </>
          )}
        </dd>
        <dt>Secondary</dt>
        <dd>
          <State tone={storage.secondary === 'used' ? 'warn' : 'idle'} text={storage.secondary === 'used' ? 'cache in use' : 'cache idle'} testid="secondary-state" />{' '}
          <code>{storage.cacheDescribe}</code>
        </dd>
        <dt>Last probe</dt>
        <dd>
          {storage.lastProbe
            ? `${storage.lastProbe.ok ? 'ok' : `failed: ${storage.lastProbe.error ?? 'unknown'}`} · ${age(model.now - storage.lastProbe.at)}`
            : 'not yet'}
        </dd>
        <dt>Conditional writes</dt>
        <dd>
          <State tone={conditionalWritesTone(storage.conditionalWrites)} text={storage.conditionalWrites} testid="conditional-writes" />
          {storage.conditionalWrites.startsWith('missing') ? ' — this NAS cannot fence the lease: no collection until it is upgraded (docs/storage.md)' : ''}
        </dd>
      </dl>
    </section>
  );
}

/** `missing` is the reason the runtime stays DEBUG; `unknown` only means not probed (yet) or unreachable. */
function conditionalWritesTone(summary: string): 'ok' | 'bad' | 'idle' {
  if (summary === 'ok') return 'ok';
  return summary.startsWith('missing') ? 'bad' : 'idle';
}

export function SyncCard({ model }: { model: DashboardModel }) {
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
          {/* The message is a sentence of its own ("synced …", "sync failed: …"): only a running sync needs a word before it. */}
          {sync.retry ? `${clock(sync.retry.at)} UTC — ${sync.retry.running ? 'running: ' : ''}${sync.retry.message}` : '—'}
        </dd>
      </dl>
      <form method="post" action="/ui/sync/retry" data-fetch="sync" class="actions">
        <button type="submit" data-testid="retry-sync">
          Retry sync
        </button>
        {sync.available ? null : <p class="muted">The sync function is not installed on this runtime yet; the button says so.</p>}
      </form>
    </section>
  );
}

/** `+1200000` / `-350`: a clock skew in ms with its sign (+ = this PC ahead). */
export function signedMs(ms: number): string {
  return `${ms > 0 ? '+' : ''}${ms}`;
}
