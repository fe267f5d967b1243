// runtime/state/alerts.ts
// Webhook delivery (timeout, one retry, latency CSV, state_alerts.log lines) and the state_update_rollback alert built on it.

import { retry } from '../async.ts';
import { BtcError } from '../errors.ts';
import { sha256Hex } from '../hash.ts';
import type { LocalFiles } from '../local-files.ts';
import path from 'node:path';

export const ALERT_SIGNAL_ID = 'state_update_rollback';
export const ALERT_MODES = ['auto', 'disable', 'force'] as const;
export type AlertMode = (typeof ALERT_MODES)[number];
/** Relative to the logs dir (seed: ops/state_alert_latency.csv, state_alerts.log). */
export const LATENCY_CSV = path.join('ops', 'state_alert_latency.csv');
export const ALERTS_LOG = 'state_alerts.log';
export const WEBHOOK_ENV_VAR = 'SIGNAL_WEBHOOK_URLS';
const CSV_HEADER = 'ts,signal_id,strategy,symbol,mode,url,attempt,outcome,http_status,latency_ms,error\n';

/**
 * The webhooks one run alerts: `requested` (--alert-webhook / `alert_webhook`) picks among the
 * configured ones, else all of them. A caller cannot add a target: the runtime would POST wherever an
 * HTTP caller says and report the status (SSRF with an oracle).
 * @throws BtcError InvalidInput when a requested URL is not configured (the URL is not echoed).
 */
export function selectWebhooks(requested: readonly string[] | undefined, configured: readonly string[]): string[] {
  if (!requested?.length) return [...configured];
  const known = new Set(configured.map(normaliseUrl));
  const unknown = requested.filter((u) => !known.has(normaliseUrl(u)));
  if (unknown.length > 0) {
    throw new BtcError(
      'InvalidInput',
      `alert_webhook: ${unknown.length} URL(s) are not configured webhooks; a run may only pick among ${WEBHOOK_ENV_VAR} / alerts.webhookUrls (${configured.length} configured)`,
    );
  }
  return [...requested];
}

function normaliseUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}

export interface AlertOptions {
  mode: AlertMode;
  /** Webhooks (selectWebhooks): the configured ones --alert-webhook picked, else all of SIGNAL_WEBHOOK_URLS (alerts.webhookUrls). */
  urls: string[];
  dryRun: boolean;
  /** Per attempt. */
  timeoutMs: number;
  /** Pause before the one retry. */
  retryDelayMs: number;
  logsDir: string;
  /** Where the latency CSV and the alerts log go; null (a worker, no disk): not written, the audit and the result carry the alert. */
  files: LocalFiles | null;
  now: () => number;
}

export interface AlertContext {
  strategy: string;
  symbol: string;
  mode: string;
  anomalyTypes: string[];
  /** The JSON body sent; `signal_id` is added. */
  payload: Record<string, unknown>;
}

export interface SendResult {
  /** The webhook with its path hidden (webhook URLs often embed a token) plus a short id. */
  url: string;
  ok: boolean;
  attempts: number;
  http_status: number | null;
  /** Latency of the last attempt. */
  latency_ms: number;
  error?: string;
}

export type AlertStatus = 'not_triggered' | 'disabled' | 'preview' | 'fallback' | 'sent' | 'partial' | 'failed';

export interface AlertReport {
  mode: AlertMode;
  /** The rollback trigger fired: anomalies under `auto`, always under `force`, never under `disable`. */
  triggered: boolean;
  status: AlertStatus;
  targets: number;
  results: SendResult[];
}

export function alertTriggered(mode: AlertMode, anomalies: number): boolean {
  return mode === 'force' || (mode === 'auto' && anomalies > 0);
}

/** Sends (or, in a dry run or without webhooks, only logs) the rollback alert. */
export async function dispatchAlert(options: AlertOptions, alert: AlertContext): Promise<AlertReport> {
  const triggered = alertTriggered(options.mode, alert.anomalyTypes.length);
  const report = (status: AlertStatus, results: SendResult[] = []): AlertReport => ({ mode: options.mode, triggered, status, targets: options.urls.length, results });
  if (options.mode === 'disable') return report('disabled');
  if (!triggered) return report('not_triggered');
  const common = { signal_id: ALERT_SIGNAL_ID, strategy: alert.strategy, symbol: alert.symbol, mode: alert.mode, anomalies: alert.anomalyTypes.join(',') || '-' };
  if (options.dryRun) {
    await appendLogLine(options, { ...common, status: 'preview', targets: options.urls.length });
    return report('preview');
  }
  if (options.urls.length === 0) {
    await appendLogLine(options, { ...common, status: 'fallback', note: 'no_webhook_configured', env_var: WEBHOOK_ENV_VAR });
    return report('fallback');
  }
  const body = JSON.stringify({ signal_id: ALERT_SIGNAL_ID, ...alert.payload });
  const row: LatencyRowLabels = { signalId: ALERT_SIGNAL_ID, strategy: alert.strategy, symbol: alert.symbol, mode: alert.mode };
  const results = await Promise.all(options.urls.map((url) => postWebhook(options, row, url, body)));
  for (const r of results) {
    await appendLogLine(options, { ...common, status: r.ok ? 'sent' : 'failed', url: r.url, attempts: r.attempts, http_status: r.http_status ?? '-', latency_ms: r.latency_ms, ...(r.error ? { error: r.error } : {}) });
  }
  const okCount = results.filter((r) => r.ok).length;
  return report(okCount === results.length ? 'sent' : okCount === 0 ? 'failed' : 'partial', results);
}

/** The labels of one latency CSV row besides the attempt's own figures. */
export interface LatencyRowLabels {
  signalId: string;
  strategy: string;
  symbol: string;
  mode: string;
}

/**
 * POSTs `body` (JSON text) to one webhook: `timeoutMs` per attempt, one retry after
 * `retryDelayMs`, a latency row per attempt in <logsDir>/ops/state_alert_latency.csv. Never throws
 * for the webhook's failure (it is in the result); the URL is redacted in the result and the CSV.
 */
export async function postWebhook(
  options: Pick<AlertOptions, 'timeoutMs' | 'retryDelayMs' | 'logsDir' | 'now' | 'files'>,
  row: LatencyRowLabels,
  url: string,
  body: string,
): Promise<SendResult> {
  const shown = redactUrl(url);
  let last: { ok: boolean; status: number | null; latency: number; error?: string } = { ok: false, status: null, latency: 0 };
  let attempt = 0;
  /** Thrown by an attempt the webhook did not accept (the answer is in `last`): the one failure retried. */
  const refused = new Error('webhook did not accept');
  await retry(
    async (n) => {
      attempt = n;
      const started = performance.now();
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(options.timeoutMs) });
        await res.arrayBuffer().catch(() => undefined);
        last = { ok: res.ok, status: res.status, latency: Math.round(performance.now() - started), ...(res.ok ? {} : { error: `HTTP ${res.status}` }) };
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError';
        last = { ok: false, status: null, latency: Math.round(performance.now() - started), error: timedOut ? `timeout after ${options.timeoutMs} ms` : describeFetchError(err) };
      }
      await appendLatencyRow(options, row, shown, attempt, last);
      if (!last.ok) throw refused;
    },
    // The first try and one retry.
    { attempts: 2, retryIf: (err) => err === refused, delayMs: () => options.retryDelayMs },
  ).catch((err: unknown) => {
    if (err !== refused) throw err;
  });
  return { url: shown, ok: last.ok, attempts: attempt, http_status: last.status, latency_ms: last.latency, ...(last.error ? { error: last.error } : {}) };
}

/** `https://hooks.example.com/services/T0/B0/xyz` → `https://hooks.example.com/…#1a2b3c4d`: the token never reaches a log. */
export function redactUrl(url: string): string {
  const id = sha256Hex(url).slice(0, 8);
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' && !u.search ? '' : '/…'}#${id}`;
  } catch {
    return `invalid-url#${id}`;
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}

async function appendLatencyRow(options: Pick<AlertOptions, 'logsDir' | 'now' | 'files'>, labels: LatencyRowLabels, url: string, attempt: number, r: { ok: boolean; status: number | null; latency: number; error?: string }): Promise<void> {
  if (!options.files) return;
  const file = path.join(options.logsDir, LATENCY_CSV);
  const row = [new Date(options.now()).toISOString(), labels.signalId, labels.strategy, labels.symbol, labels.mode, url, attempt, r.ok ? 'ok' : 'error', r.status ?? '', r.latency, r.error ?? '']
    .map(csvCell)
    .join(',');
  // Webhooks are sent in parallel: only the writer that creates the file (O_EXCL) writes the header.
  await options.files.append(file, row + '\n', CSV_HEADER);
}

/** One `key=value` line per event in <logsDir>/state_alerts.log (also used by the rule alerts, runtime/alerts/). */
export async function appendLogLine(options: Pick<AlertOptions, 'logsDir' | 'now' | 'files'>, fields: Record<string, string | number>): Promise<void> {
  if (!options.files) return;
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${String(v).replace(/\s+/g, '_')}`)
    .join(' ');
  await options.files.append(path.join(options.logsDir, ALERTS_LOG), `${new Date(options.now()).toISOString()} ${text}\n`, undefined, { rotate: true });
}

function csvCell(value: string | number): string {
  const s = String(value);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
