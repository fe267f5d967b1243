// runtime/alerts/deliver.ts
// Sends one alert message (fire, repeat, resolve, test) to every configured webhook, in the body format of each URL.

import type { AlertsConfig, WebhookFormat } from '../../config/schema.ts';
import type { LocalFiles } from '../local-files.ts';
import { appendLogLine, postWebhook, redactUrl, WEBHOOK_ENV_VAR, type SendResult } from '../state/alerts.ts';

export type MessageKind = 'fire' | 'repeat' | 'resolve' | 'test';

/** What one message says; the same for every webhook, only the body's shape differs. */
export interface AlertMessage {
  kind: MessageKind;
  rule: string;
  /** Dedupe key of the incident (`rule` or `rule/<subject>`). */
  key: string;
  host: string;
  site: string;
  summary: string;
  /** ISO time the condition began (or the event was first seen). */
  since: string;
  /** ISO time of this message. */
  at: string;
  details?: Record<string, unknown>;
}

export interface Delivery {
  /** `sent` all ok, `partial`, `failed` none ok, `none` no webhook configured. */
  status: 'sent' | 'partial' | 'failed' | 'none';
  targets: number;
  results: SendResult[];
}

/** `signal_id` of the generic JSON body. */
export const RULE_SIGNAL_ID = 'btc_ts_alert';
/** Discord refuses a `content` longer than 2000 characters. */
const TEXT_LIMIT = 1900;

/**
 * The body format of one webhook: `alerts.formats[host]` when set, else by host (hooks.slack.com →
 * slack, discord.com / discordapp.com → discord), else the generic JSON.
 */
export function formatOf(url: string, formats: AlertsConfig['formats']): WebhookFormat {
  let host = '';
  let hostPort = '';
  try {
    const u = new URL(url);
    host = u.hostname.toLowerCase();
    hostPort = u.host.toLowerCase();
  } catch {
    return 'json';
  }
  const configured = formats[hostPort] ?? formats[host];
  if (configured) return configured;
  if (host === 'hooks.slack.com') return 'slack';
  if (host === 'discord.com' || host === 'discordapp.com' || host.endsWith('.discord.com')) return 'discord';
  return 'json';
}

const LABEL: Record<MessageKind, string> = { fire: 'FIRING', repeat: 'STILL FIRING', resolve: 'RESOLVED', test: 'TEST' };

/** The one-line text of the Slack/Discord bodies. */
export function messageText(m: AlertMessage): string {
  const text = `[${LABEL[m.kind]}] btc-ts ${m.site}/${m.host} ${m.rule}: ${m.summary} (since ${m.since}, key ${m.key})`;
  return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT - 1)}…` : text;
}

/** The body for one format: `{text}` (Slack and compatible), `{content}` (Discord), or the generic JSON. */
export function bodyFor(format: WebhookFormat, m: AlertMessage): string {
  if (format === 'slack') return JSON.stringify({ text: messageText(m) });
  if (format === 'discord') return JSON.stringify({ content: messageText(m) });
  return JSON.stringify({ signal_id: RULE_SIGNAL_ID, ...m, details: m.details ?? {} });
}

/**
 * POSTs the message to every URL (in parallel; timeout and one retry each, a latency CSV row per
 * attempt with signal_id `alert.<rule>`, symbol = the key, mode = the kind) and writes one
 * state_alerts.log line per webhook. URLs are redacted in everything it writes or returns.
 */
export async function deliver(
  options: { urls: readonly string[]; formats: AlertsConfig['formats']; timeoutMs: number; retryDelayMs: number; logsDir: string; files: LocalFiles | null; now: () => number },
  m: AlertMessage,
): Promise<Delivery> {
  const common = { signal_id: `alert.${m.rule}`, kind: m.kind, key: m.key, host: m.host };
  if (options.urls.length === 0) {
    await appendLogLine(options, { ...common, status: 'fallback', note: 'no_webhook_configured', env_var: WEBHOOK_ENV_VAR });
    return { status: 'none', targets: 0, results: [] };
  }
  const row = { signalId: `alert.${m.rule}`, strategy: '-', symbol: m.key, mode: m.kind };
  const results = await Promise.all(options.urls.map((url) => postWebhook(options, row, url, bodyFor(formatOf(url, options.formats), m))));
  for (const r of results) {
    await appendLogLine(options, { ...common, status: r.ok ? 'sent' : 'failed', url: r.url, attempts: r.attempts, http_status: r.http_status ?? '-', latency_ms: r.latency_ms, ...(r.error ? { error: r.error } : {}) });
  }
  const ok = results.filter((r) => r.ok).length;
  return { status: ok === results.length ? 'sent' : ok === 0 ? 'failed' : 'partial', targets: results.length, results };
}

/** The formats in use, by redacted URL (for `runtime alerts test`). */
export function describeTargets(urls: readonly string[], formats: AlertsConfig['formats']): Array<{ url: string; format: WebhookFormat }> {
  return urls.map((url) => ({ url: redactUrl(url), format: formatOf(url, formats) }));
}
