// runtime/dashboard-export/quality-run.ts
// One data-quality run: judge the day, store quality/dt=<date>/…, audit it, and POST data_quality_failure below the threshold.

import { isoDate } from '../clock.ts';
import type { FnContext } from '../define.ts';
import { BtcError } from '../errors.ts';
import { formatOf } from '../alerts/deliver.ts';
import { appendLogLine, postWebhook, WEBHOOK_ENV_VAR } from '../state/alerts.ts';
import { computeQuality, writeQuality, type QualityReport } from './quality.ts';

export const QUALITY_SIGNAL_ID = 'data_quality_failure';

export interface QualityAlertResult {
  /** `not_triggered` (all streams at or above the threshold), `fallback` (no webhook configured), `sent`, `partial`, `failed`. */
  status: 'not_triggered' | 'fallback' | 'sent' | 'partial' | 'failed';
  results: Array<{ url: string; ok: boolean; attempts: number; http_status: number | null; latency_ms: number; error?: string }>;
}

export interface QualityRun extends QualityReport {
  alert: QualityAlertResult;
}

/** YYYY-MM-DD, a real calendar date. @throws BtcError InvalidInput otherwise. */
export function parseQualityDate(raw: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || isoDate(Date.parse(`${raw}T00:00:00Z`)) !== raw) throw new BtcError('InvalidInput', `--date must be a UTC day YYYY-MM-DD, got ${JSON.stringify(raw)}`);
  return raw;
}

/**
 * Judges `date` (default: yesterday, UTC) for every configured stream, stores the summary and the
 * gap inventory on the primary, records `quality.report` in the audit trail, and when a stream is
 * below `threshold` POSTs the `data_quality_failure` signal to every configured webhook in its body
 * format (alerts.formats: JSON, or Slack/Discord text), with alerts.timeoutMs and one retry; the
 * latency CSV gets a row per attempt and `state_alerts.log` a line per webhook, the URL redacted.
 * @throws BtcError Unavailable when the primary cannot be read or written.
 */
export async function runQuality(ctx: FnContext, o: { date?: string; threshold?: number }): Promise<QualityRun> {
  const now = ctx.clock.now();
  const date = o.date ?? isoDate(now - 86_400_000);
  const threshold = o.threshold ?? ctx.config.quality.coverageThreshold;
  if (!(threshold >= 0 && threshold <= 1)) throw new BtcError('InvalidInput', `coverage threshold must be within 0..1, got ${threshold}`);
  // As planTasks (runtime/collector/plan.ts, default timeframe 1m) reads collector.streams, without loading ccxt: this duty also runs in a worker.
  const tickMs = ctx.config.collector.tickSeconds * 1000;
  const streams = ctx.config.collector.streams.flatMap((s) =>
    s.symbols.map((symbol) => ({ exchange: s.exchange, topic: s.topic, symbol, everyMs: s.every !== undefined ? s.every * 1000 : tickMs, timeframe: s.timeframe ?? '1m' })),
  );
  const { report, inventory } = await computeQuality(ctx.store.primary, { date, streams, threshold, now, host: ctx.host });
  await writeQuality(ctx.store.primary, report, inventory);
  const alert = report.status === 'ok' ? ({ status: 'not_triggered', results: [] } as QualityAlertResult) : await sendQualityAlert(ctx, report);
  await ctx.audit.record('quality.report', {
    date,
    status: report.status,
    threshold,
    below: report.below,
    coverage: Object.fromEntries(report.streams.map((s) => [s.stream, s.coverage_ratio])),
    gaps: report.gaps_total,
    alert: alert.status,
  });
  return { ...report, alert };
}

async function sendQualityAlert(ctx: FnContext, report: QualityReport): Promise<QualityAlertResult> {
  const cfg = ctx.config.alerts;
  const options = { timeoutMs: cfg.timeoutMs, retryDelayMs: cfg.retryDelayMs, logsDir: ctx.paths.logsDir, files: ctx.files, now: () => ctx.clock.now() };
  const common = { signal_id: QUALITY_SIGNAL_ID, date: report.date };
  if (cfg.webhookUrls.length === 0) {
    await appendLogLine(options, { ...common, status: 'fallback', note: 'no_webhook_configured', env_var: WEBHOOK_ENV_VAR, below: report.below.join(',') });
    return { status: 'fallback', results: [] };
  }
  const below = report.streams.filter((s) => s.below_threshold);
  const json = JSON.stringify({
    signal_id: QUALITY_SIGNAL_ID,
    date: report.date,
    host: report.host,
    coverage_threshold: report.coverage_threshold,
    below: below.map((s) => ({ stream: s.stream, coverage_ratio: s.coverage_ratio, gaps: s.gaps })),
    summary_key: report.keys.summary,
    gap_inventory_key: report.keys.gap_inventory,
  });
  // Slack/Discord-compatible webhooks (alerts.formats, or by host) get one line of text, the others the JSON.
  const text = `[${QUALITY_SIGNAL_ID}] btc-ts ${ctx.config.site}/${report.host} ${report.date}: coverage below ${report.coverage_threshold} for ${below
    .map((s) => `${s.stream} ${s.coverage_ratio}`)
    .join(', ')} (${report.keys.gap_inventory})`.slice(0, 1900);
  const bodyOf = (url: string) => {
    const format = formatOf(url, cfg.formats);
    return format === 'slack' ? JSON.stringify({ text }) : format === 'discord' ? JSON.stringify({ content: text }) : json;
  };
  const row = { signalId: QUALITY_SIGNAL_ID, strategy: '-', symbol: report.date, mode: report.status };
  const results = await Promise.all(cfg.webhookUrls.map((url) => postWebhook(options, row, url, bodyOf(url))));
  for (const r of results) {
    await appendLogLine(options, { ...common, status: r.ok ? 'sent' : 'failed', url: r.url, attempts: r.attempts, http_status: r.http_status ?? '-', latency_ms: r.latency_ms, ...(r.error ? { error: r.error } : {}) });
  }
  const ok = results.filter((r) => r.ok).length;
  return { status: ok === results.length ? 'sent' : ok === 0 ? 'failed' : 'partial', results };
}
