// runtime/observability/quality-run.ts
// One data-quality run: judge the day, store quality/dt=<date>/…, audit it, and POST data_quality_failure below the threshold.

import { planTasks } from '../collector/plan.ts';
import { isoDate } from '../clock.ts';
import type { FnContext } from '../define.ts';
import { BtcError } from '../errors.ts';
import { appendRotating } from '../log-files.ts';
import { ALERTS_LOG, redactUrl, WEBHOOK_ENV_VAR } from '../state/alerts.ts';
import { computeQuality, writeQuality, type QualityReport } from './quality.ts';

export const QUALITY_SIGNAL_ID = 'data_quality_failure';
const WEBHOOK_TIMEOUT_MS = 5_000;
const RETRY_DELAY_MS = 1_000;

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
 * below `threshold` POSTs the `data_quality_failure` signal to every configured webhook (5 s
 * timeout, one retry; `state_alerts.log` gets one line per webhook, the URL redacted).
 * @throws BtcError Unavailable when the primary cannot be read or written.
 */
export async function runQuality(ctx: FnContext, o: { date?: string; threshold?: number }): Promise<QualityRun> {
  const now = ctx.clock.now();
  const date = o.date ?? isoDate(now - 86_400_000);
  const threshold = o.threshold ?? ctx.config.quality.coverageThreshold;
  if (!(threshold >= 0 && threshold <= 1)) throw new BtcError('InvalidInput', `coverage threshold must be within 0..1, got ${threshold}`);
  const streams = planTasks(ctx.config).map((t) => ({ exchange: t.exchange, topic: t.topic, symbol: t.symbol, everyMs: t.everyMs, timeframe: t.timeframe }));
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
  const urls = ctx.config.alerts.webhookUrls;
  const logLine = async (fields: Record<string, string | number>) => {
    const text = Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\s+/g, '_')}`).join(' ');
    await appendRotating(ctx.paths.logsDir, ALERTS_LOG, `${new Date(ctx.clock.now()).toISOString()} signal_id=${QUALITY_SIGNAL_ID} date=${report.date} ${text}\n`);
  };
  if (urls.length === 0) {
    await logLine({ status: 'fallback', note: 'no_webhook_configured', env_var: WEBHOOK_ENV_VAR, below: report.below.join(',') });
    return { status: 'fallback', results: [] };
  }
  const body = JSON.stringify({
    signal_id: QUALITY_SIGNAL_ID,
    date: report.date,
    host: report.host,
    coverage_threshold: report.coverage_threshold,
    below: report.streams.filter((s) => s.below_threshold).map((s) => ({ stream: s.stream, coverage_ratio: s.coverage_ratio, gaps: s.gaps })),
    summary_key: report.keys.summary,
    gap_inventory_key: report.keys.gap_inventory,
  });
  const results = await Promise.all(
    urls.map(async (url) => {
      let last: QualityAlertResult['results'][number] = { url: redactUrl(url), ok: false, attempts: 0, http_status: null, latency_ms: 0 };
      for (let attempt = 1; attempt <= 2 && !last.ok; attempt++) {
        if (attempt > 1) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
        const started = performance.now();
        try {
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
          await res.arrayBuffer().catch(() => undefined);
          last = { url: last.url, ok: res.ok, attempts: attempt, http_status: res.status, latency_ms: Math.round(performance.now() - started), ...(res.ok ? {} : { error: `HTTP ${res.status}` }) };
        } catch (err) {
          const error = (err as Error).name === 'TimeoutError' ? `timeout after ${WEBHOOK_TIMEOUT_MS} ms` : ctx.masker.text(String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message));
          last = { url: last.url, ok: false, attempts: attempt, http_status: null, latency_ms: Math.round(performance.now() - started), error };
        }
      }
      await logLine({ status: last.ok ? 'sent' : 'failed', url: last.url, attempts: last.attempts, http_status: last.http_status ?? '-', latency_ms: last.latency_ms, ...(last.error ? { error: last.error } : {}) });
      return last;
    }),
  );
  const ok = results.filter((r) => r.ok).length;
  return { status: ok === results.length ? 'sent' : ok === 0 ? 'failed' : 'partial', results };
}
