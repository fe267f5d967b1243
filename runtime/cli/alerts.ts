// runtime/cli/alerts.ts
// `runtime alerts [--json]` lists the open alert incidents of every host; `runtime alerts test` sends a test message to every webhook.

import { describeTargets } from '../alerts/deliver.ts';
import { readIncidents, sendTest } from '../alerts/incidents.ts';
import { WEBHOOK_ENV_VAR } from '../state/alerts.ts';
import { readAllStatus } from '../status.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, plain, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

export interface OpenAlertRow {
  host: string;
  rule: string;
  key: string;
  summary: string;
  since: string;
  opened_at: string;
  last_sent_at: string | null;
  undelivered: boolean;
}

export const alertsListCommand: Command = {
  ...listed('alerts'),
  usage: 'runtime alerts [--json] [--config FILE]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the incidents as JSON' },
  async run(flags) {
    const runtime = await loadRuntime(flags);
    const own = await readIncidents(runtime.paths.dataDir);
    const rows: OpenAlertRow[] = own.incidents.map((i) => ({ host: i.host, rule: i.rule, key: i.key, summary: i.summary, since: i.since, opened_at: i.opened_at, last_sent_at: i.last_sent_at, undelivered: i.undelivered }));
    const errors: string[] = own.error ? [own.error] : [];
    // The other PCs' incidents travel in their status objects; a primary that is down leaves only ours.
    try {
      const { hosts, errors: statusErrors } = await readAllStatus(runtime.store);
      for (const h of hosts) {
        if (h.host === runtime.host) continue;
        for (const a of h.alerts ?? []) rows.push({ host: h.host, rule: a.rule, key: a.key, summary: a.summary, since: a.since, opened_at: a.opened_at, last_sent_at: a.last_sent_at ?? null, undelivered: a.undelivered ?? false });
      }
      errors.push(...statusErrors.map((e) => `unreadable status ${e.key}: ${e.error}`));
    } catch (err) {
      errors.push(`other hosts unknown: status not readable (${runtime.masker.text(err instanceof Error ? err.message : String(err))})`);
    }
    rows.sort((a, b) => a.opened_at.localeCompare(b.opened_at));
    if (flags.json) {
      printJson({ open: rows, errors });
    } else {
      if (rows.length === 0) console.log(color.green('no open alert'));
      else
        printTable(
          ['host', 'rule', 'since', 'fired', 'summary'],
          // Peers write these rows: every field is plain()ed before colour is added.
          rows.map((r) => [plain(r.host), color.red(plain(r.rule)), plain(r.since), plain(r.opened_at) + (r.undelivered ? color.yellow(' (not delivered)') : ''), plain(r.summary)]),
        );
      for (const e of errors) console.error(color.yellow(plain(e)));
    }
    return 0;
  },
};

export const alertsTestCommand: Command = {
  ...listed('alerts test'),
  usage: 'runtime alerts test [--json] [--config FILE]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the delivery result as JSON' },
  async run(flags) {
    const runtime = await loadRuntime(flags);
    const { webhookUrls, formats } = runtime.loaded.config.alerts;
    if (webhookUrls.length === 0) {
      const text = `no webhook configured: set ${WEBHOOK_ENV_VAR} (comma-separated) or alerts.webhookUrls`;
      if (flags.json) printJson({ status: 'none', targets: 0, results: [], error: text });
      else console.error(color.red(text));
      return 1;
    }
    const delivery = await sendTest(runtime.context());
    await runtime.audit.ship(runtime.store).catch(() => undefined);
    const targets = describeTargets(webhookUrls, formats);
    if (flags.json) {
      printJson({ ...delivery, results: delivery.results.map((r, i) => ({ ...r, format: targets[i]!.format })) });
    } else {
      printTable(
        ['webhook', 'format', 'result', 'http', 'attempts', 'latency'],
        delivery.results.map((r, i) => [r.url, targets[i]!.format, r.ok ? color.green('ok') : color.red(r.error ?? 'failed'), String(r.http_status ?? '—'), String(r.attempts), `${r.latency_ms} ms`]),
      );
    }
    return delivery.status === 'sent' ? 0 : 1;
  },
};
