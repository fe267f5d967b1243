// runtime/state/update.ts
// The state update in two steps: plan (read state, override and fills; estimate; guard; decide) and commit (apply, archive, audit, alert).

import type { AppConfig, StrategyConfig } from '../../config/schema.ts';
import type { AuditTrail } from '../define.ts';
import { BtcError } from '../errors.ts';
import type { LocalFiles } from '../local-files.ts';
import type { ObjectStore } from '../store/types.ts';
import { dispatchAlert, selectWebhooks, type AlertMode, type AlertReport } from './alerts.ts';
import { emptyState, foldFills, newFillsOf } from './estimate.ts';
import { loadEvidence } from './evidence.ts';
import { anomaliesOf, decide, diffParams, riskOf, type Caps } from './guards.ts';
import { configFingerprint, targetOf, type Anomaly, type DecisionStatus, type OverrideFlag, type RiskSummary, type StateDiff, type StateTarget, type StrategyState } from './model.ts';
import { loadState, readOverride, writeArchivedDiff, writeStateIfUnchanged } from './persist.ts';
import { stateKey } from '../keys.ts';

export interface UpdateRequest {
  strategy?: string;
  symbol?: string;
  mode?: string;
  simulate_live: boolean;
  dry_run: boolean;
  max_delta?: number;
  var_cap?: number;
  liquidity_cap?: number;
  alert_mode: AlertMode;
  alert_webhook?: string[];
  alert_timeout_ms: number;
  alert_retry_delay_ms: number;
  reset: boolean;
}

export interface UpdatePlan {
  request: UpdateRequest;
  target: StateTarget;
  fingerprint: string;
  caps: Caps;
  at: number;
  /** The state as read (null: none yet or --reset) and its ETag, the precondition of the apply. */
  before: StrategyState | null;
  beforeEtag: string | null;
  next: StrategyState;
  override: OverrideFlag;
  evidence: { files: number; fills_total: number; fills_new: number; since_ts: number | null; until_ts: number | null };
  diff: StateDiff;
  risk: RiskSummary;
  anomalies: Anomaly[];
  decision: { status: DecisionStatus; reasons: string[] };
}

export interface PlanDeps {
  store: ObjectStore;
  config: AppConfig;
  now: number;
}

/** Which strategy/symbol/mode a request is about, with the strategy's config; errors name what is missing. */
export function resolveTarget(config: AppConfig, request: Pick<UpdateRequest, 'strategy' | 'symbol' | 'mode'>): { target: StateTarget; strategy: StrategyConfig } {
  const strategies = config.strategies ?? {};
  const names = Object.keys(strategies);
  if (names.length === 0) {
    throw new BtcError('InvalidInput', 'no strategies configured: add a `strategies:` section to the config (see docs/state.md)');
  }
  const name = request.strategy ?? (names.length === 1 ? names[0]! : undefined);
  if (!name) throw new BtcError('InvalidInput', `several strategies are configured (${names.join(', ')}): name one with --strategy`);
  // Own keys only: `__proto__` or `constructor` must be an unknown strategy, not Object's members.
  const strategy = Object.hasOwn(strategies, name) ? strategies[name] : undefined;
  if (!strategy) throw new BtcError('InvalidInput', `unknown strategy ${name}; configured: ${names.join(', ')}`);
  const symbol = request.symbol ?? strategy.symbol;
  const mode = request.mode ?? strategy.mode;
  if (!symbol) throw new BtcError('InvalidInput', `strategy ${name} has no default symbol: pass --symbol`);
  if (!mode) throw new BtcError('InvalidInput', `strategy ${name} has no default mode: pass --mode`);
  if (!/^[A-Za-z0-9._-]+$/.test(mode)) throw new BtcError('InvalidInput', `mode ${mode}: letters, digits, . _ - only`);
  return { target: targetOf(name, symbol, mode), strategy };
}

export async function planUpdate(deps: PlanDeps, request: UpdateRequest): Promise<UpdatePlan> {
  const { target, strategy } = resolveTarget(deps.config, request);
  const fingerprint = configFingerprint(strategy);
  const caps: Caps = {
    maxDelta: request.max_delta ?? strategy.guards?.maxDelta ?? null,
    varCap: request.var_cap ?? strategy.guards?.varCap ?? null,
    liquidityCap: request.liquidity_cap ?? strategy.guards?.liquidityCap ?? null,
  };
  const loaded = await loadState(deps.store, target, fingerprint, { reset: request.reset });
  const { flag: override } = await readOverride(deps.store);
  const evidence = await loadEvidence(deps.store, target);
  const base = loaded.state ?? emptyState(target, fingerprint);
  const fresh = newFillsOf(base, evidence.fills);
  const next = foldFills(base, fresh, strategy.model, new Date(deps.now).toISOString());
  const { all, ...diff } = diffParams(base.params, next.params);
  const risk = riskOf(fresh, caps);
  const anomalies = anomaliesOf(all, risk, caps);
  const decision = decide({ simulateLive: request.simulate_live, dryRun: request.dry_run, overrideDisabled: override.status === 'disabled', anomalies, newFills: fresh.length });
  return {
    request,
    target,
    fingerprint,
    caps,
    at: deps.now,
    before: loaded.state,
    beforeEtag: loaded.etag,
    next,
    override,
    evidence: {
      files: evidence.files.length,
      fills_total: evidence.fills.length,
      fills_new: fresh.length,
      since_ts: base.evidence.last_fill_ts,
      until_ts: fresh.length ? fresh[fresh.length - 1]!.ts : null,
    },
    diff,
    risk,
    anomalies,
    decision,
  };
}

export interface CommitDeps {
  store: ObjectStore;
  audit: AuditTrail;
  host: string;
  logsDir: string;
  /** This PC's disk for the alert logs (ctx.files); null in a worker. */
  files: LocalFiles | null;
  /** Webhooks when the request names none (SIGNAL_WEBHOOK_URLS). */
  configuredWebhooks: string[];
  now: () => number;
}

export interface UpdateResult {
  strategy: string;
  symbol: string;
  mode: string;
  state_key: string;
  /** null in a dry run or without --simulate-live (nothing archived). */
  archive_key: string | null;
  dry_run: boolean;
  simulate_live: boolean;
  reset: boolean;
  config_fingerprint: string;
  override: { status: OverrideFlag['status']; reason: string };
  evidence: UpdatePlan['evidence'];
  risk: RiskSummary;
  diff: StateDiff;
  anomalies: Anomaly[];
  decision: { status: DecisionStatus; reasons: string[] };
  /** The params this update computed (what state.json holds when applied). */
  params_proposed: Record<string, number>;
  rollback_triggered: boolean;
  alert: AlertReport;
}

/**
 * Applies (when the decision is applied) with a conditional write: if another update changed
 * state.json since this plan read it, this one is not applied and reports `state_conflict`.
 * Then archives the diff (not in a dry run), audits the decision and sends the alert.
 */
export async function commitUpdate(deps: CommitDeps, plan: UpdatePlan): Promise<UpdateResult> {
  const { request, target } = plan;
  let decision = plan.decision;
  if (decision.status === 'applied') {
    const won = await writeStateIfUnchanged(deps.store, plan.next, plan.beforeEtag);
    if (!won) decision = { status: 'blocked', reasons: ['state_conflict'] };
  }
  const archives = request.simulate_live && !request.dry_run;
  const at = new Date(plan.at).toISOString();
  const archive_key = archives
    ? await writeArchivedDiff(deps.store, target, plan.at, {
        status: decision.status,
        reason: decision.reasons,
        diff: plan.diff,
        anomalies: plan.anomalies,
        risk: plan.risk,
        ...target,
        config_fingerprint: plan.fingerprint,
        at,
        host: deps.host,
      })
    : null;
  if (!request.dry_run) {
    await deps.audit.record('state.update.decision', {
      ...target,
      status: decision.status,
      reasons: decision.reasons,
      anomalies: plan.anomalies.map((a) => (a.param ? `${a.type}:${a.param}` : a.type)),
      fills_new: plan.evidence.fills_new,
      simulate_live: request.simulate_live,
      reset: request.reset,
      archive_key,
      config_fingerprint: plan.fingerprint,
    });
  }
  const alert = await dispatchAlert(
    {
      mode: request.alert_mode,
      urls: selectWebhooks(request.alert_webhook, deps.configuredWebhooks),
      // A run without --simulate-live only reports, so its alert is a preview like a dry run's.
      dryRun: request.dry_run || !request.simulate_live,
      timeoutMs: request.alert_timeout_ms,
      retryDelayMs: request.alert_retry_delay_ms,
      logsDir: deps.logsDir,
      files: deps.files,
      now: deps.now,
    },
    {
      ...target,
      anomalyTypes: [...new Set(plan.anomalies.map((a) => a.type))],
      payload: { ...target, host: deps.host, at, status: decision.status, reasons: decision.reasons, anomalies: plan.anomalies, risk: plan.risk, archive_key },
    },
  );
  return {
    ...target,
    state_key: stateKey(target),
    archive_key,
    dry_run: request.dry_run,
    simulate_live: request.simulate_live,
    reset: request.reset,
    config_fingerprint: plan.fingerprint,
    override: { status: plan.override.status, reason: plan.override.reason },
    evidence: plan.evidence,
    risk: plan.risk,
    diff: plan.diff,
    anomalies: plan.anomalies,
    decision,
    params_proposed: plan.next.params,
    rollback_triggered: alert.triggered,
    alert,
  };
}
