// functions/state-update.ts
// Seed 003 state update: re-estimate a strategy's state from new fills, guard it, decide applied|preview|blocked.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { ALERT_MODES, selectWebhooks } from '../runtime/state/alerts.ts';
import { anomalySchema, DECISION_STATUSES, diffSchema, riskSchema } from '../runtime/state/model.ts';
import { commitUpdate, planUpdate } from '../runtime/state/update.ts';

/** Per attempt; the alert is retried once, so a dead webhook costs at most ~2× this. */
const DEFAULT_ALERT_TIMEOUT_MS = 5_000;
const DEFAULT_ALERT_RETRY_DELAY_MS = 500;

const sendResultSchema = z.object({
  url: z.string(),
  ok: z.boolean(),
  attempts: z.number().int(),
  http_status: z.number().int().nullable(),
  latency_ms: z.number(),
  error: z.string().optional(),
});

export default defineFunction({
  name: 'state-update',
  description:
    'Re-estimate state/<strategy>/<symbol>/<mode>/state.json from new fills under runs/…; guard with max-delta, 5 % VaR and liquidity caps; ' +
    'decide applied|preview|blocked; archive the diff; alert state_update_rollback on anomalies.',
  input: z
    .object({
      strategy: z.string().min(1).optional().describe('strategy name from the config (default: the only one)'),
      symbol: z.string().min(1).optional().describe('default: the strategy\'s symbol'),
      mode: z.string().min(1).optional().describe('default: the strategy\'s mode'),
      /** The guarded pseudo-live update; without it the run only reports (preview, reason simulate_live_off). */
      simulate_live: z.boolean().default(false).describe('the guarded pseudo-live update (without it: report only)'),
      dry_run: z.boolean().default(false).describe('compute and print only: no state, archive or audit written, alert logged as status=preview'),
      max_delta: z.number().positive().optional().describe('largest |relative change| of any param (0.2 = 20 %)'),
      var_cap: z.number().optional().describe('largest 5 % VaR of per-trade pnl of the new fills, in pips'),
      liquidity_cap: z.number().nonnegative().optional().describe('largest sum of |qty| of the new fills'),
      alert_mode: z.enum(ALERT_MODES).default('auto').describe('auto: alert on anomalies; disable: never; force: always'),
      /** Picks among the configured webhooks (SIGNAL_WEBHOOK_URLS); a URL that is not configured is refused. */
      alert_webhook: z.array(z.url()).max(20).optional().describe('webhook URL(s), among the configured ones (default: $SIGNAL_WEBHOOK_URLS)'),
      alert_timeout_ms: z.number().int().positive().max(60_000).default(DEFAULT_ALERT_TIMEOUT_MS).describe('per attempt (ms; one retry)'),
      alert_retry_delay_ms: z.number().int().nonnegative().max(60_000).default(DEFAULT_ALERT_RETRY_DELAY_MS).describe('wait before the retry (ms)'),
      /** Start from an empty state (after a config change): re-estimate from all fills, replacing the old state when applied. */
      reset: z.boolean().default(false).describe('ignore the current state (e.g. after a config change) and re-estimate from all fills'),
    })
    .strict(),
  output: z.object({
    strategy: z.string(),
    symbol: z.string(),
    mode: z.string(),
    state_key: z.string(),
    archive_key: z.string().nullable(),
    dry_run: z.boolean(),
    simulate_live: z.boolean(),
    reset: z.boolean(),
    config_fingerprint: z.string(),
    override: z.object({ status: z.enum(['enabled', 'disabled']), reason: z.string() }),
    evidence: z.object({
      files: z.number().int(),
      fills_total: z.number().int(),
      fills_new: z.number().int(),
      since_ts: z.number().nullable(),
      until_ts: z.number().nullable(),
    }),
    risk: riskSchema,
    diff: diffSchema,
    anomalies: z.array(anomalySchema),
    decision: z.object({ status: z.enum(DECISION_STATUSES), reasons: z.array(z.string()) }),
    params_proposed: z.record(z.string(), z.number()),
    rollback_triggered: z.boolean(),
    alert: z.object({
      mode: z.enum(ALERT_MODES),
      triggered: z.boolean(),
      status: z.enum(['not_triggered', 'disabled', 'preview', 'fallback', 'sent', 'partial', 'failed']),
      targets: z.number().int(),
      results: z.array(sendResultSchema),
    }),
  }),
  async run(input, ctx) {
    // Like the lease, state.json is kept consistent by conditional writes on the one source of
    // truth: against the cache a run would plan from an empty state and fork it. So this duty
    // talks to the primary only, and fails (Unavailable) while the primary is down.
    const store = ctx.store.primary;
    // Refused before anything is written: an unknown webhook is a bad request, not a failed alert.
    selectWebhooks(input.alert_webhook, ctx.config.alerts.webhookUrls);
    const plan = await planUpdate({ store, config: ctx.config, now: ctx.clock.now() }, input);
    return commitUpdate(
      {
        store,
        audit: ctx.audit,
        host: ctx.host,
        logsDir: ctx.paths.logsDir,
        files: ctx.files,
        configuredWebhooks: ctx.config.alerts.webhookUrls,
        now: () => ctx.clock.now(),
      },
      plan,
    );
  },
});
