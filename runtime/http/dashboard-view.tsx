// runtime/http/dashboard-view.tsx
// The dashboard's HTML (hono/jsx): the page shell and the main partial the page re-fetches every few seconds.

import { raw } from 'hono/html';
import type { DashboardModel } from './dashboard-model.ts';
import { AlertsCard } from './dashboard-alerts.tsx';
import { LeaderCard, RuntimeCard, StorageCard, SyncCard } from './dashboard-cards.tsx';
import { DataCard } from './dashboard-data-card.tsx';
import { REFRESH_SCRIPT } from './dashboard-script.ts';
import { AuditSection, HandoffCard, HostsSection, NextTasksCard, ObjectsCard, StreamsSection } from './dashboard-sections.tsx';
import { clock } from './format.ts';
import { Layout } from './layout.tsx';

/** How often the page re-fetches its main partial (JS on) or reloads (JS off). */
export const REFRESH_SECONDS = 3;
const NO_SCRIPT_REFRESH_SECONDS = 10;

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
          {/* With a token /status is API-only (bearer header): a link the session cannot open would only 401. */}
          {props.model.tokenSet ? null : <a href="/status">status JSON</a>}
          <a href="/metrics">metrics</a>
          <span id="refresh-state" role="status" aria-live="polite"></span>
        </nav>
      }
    >
      {props.model.insecureNoToken ? (
        <p class="insecure" role="alert" data-testid="insecure-banner">
          INSECURE: this runtime listens on the network without BTC_TS_API_TOKEN (--insecure-no-token). Anyone who reaches it can run every duty.
        </p>
      ) : null}
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
      <p class="muted" data-testid="updated">
        Updated {clock(model.now)} UTC · refreshes every {REFRESH_SECONDS} s
      </p>
      <AlertsCard model={model} />
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
        <DataCard model={model} />
      </div>
      <AuditSection model={model} />
    </>
  );
}
