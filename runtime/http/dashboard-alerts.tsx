// runtime/http/dashboard-alerts.tsx
// The dashboard's alerts card, on top: open alert incidents of every host (from their status) and why this host is DIAG.

import type { DashboardModel } from './dashboard-model.ts';
import { State } from './dashboard-cards.tsx';

export function AlertsCard({ model }: { model: DashboardModel }) {
  const open = model.hosts.flatMap((h) => (h.alerts ?? []).map((a) => ({ ...a, host: h.host })));
  open.sort((a, b) => a.opened_at.localeCompare(b.opened_at));
  return (
    <section class="card wide" aria-labelledby="h-alerts" data-testid="alerts-card">
      <h2 id="h-alerts">Alerts</h2>
      {open.length === 0 ? (
        <p data-testid="alerts-none">
          <State tone="ok" text="no open alert" />
        </p>
      ) : (
        <div class="table-wrap">
          <table class="stack" data-testid="alerts">
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Host</th>
                <th scope="col">Since</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody>
              {open.map((a) => (
                <tr data-alert-key={a.key}>
                  <th scope="row">
                    <State tone="bad" text={a.rule} />
                  </th>
                  <td data-label="Host">{a.host}</td>
                  <td data-label="Since">
                    {a.since}
                    {a.undelivered ? ' (webhooks did not take it; retried)' : ''}
                  </td>
                  <td data-label="What">{a.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {model.diagReasons.length ? (
        <p data-testid="diag-reasons">
          <State tone="bad" text="DIAG" /> because: {model.diagReasons.map((r) => `${r.id} — ${r.detail}`).join('; ')}. It returns to PROD by itself once every reason is gone.
        </p>
      ) : null}
    </section>
  );
}
