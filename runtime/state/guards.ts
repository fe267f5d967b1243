// runtime/state/guards.ts
// Risk guards of a state update: param diff, 5 % historical VaR, liquidity usage, anomalies and the decision.

import { tidy } from './estimate.ts';
import type { Anomaly, DecisionStatus, Fill, ParamChange, RiskSummary, StateDiff } from './model.ts';

/** How many changed params `diff.updated` lists (seed: top 20). */
export const DIFF_TOP = 20;
/** Tail probability of the historical VaR. */
export const VAR_TAIL = 0.05;

export interface Caps {
  maxDelta: number | null;
  varCap: number | null;
  liquidityCap: number | null;
}

/** Params present before and after with a different value, ranked by |relative change|. */
export function diffParams(before: Record<string, number>, after: Record<string, number>): StateDiff & { all: ParamChange[] } {
  const all: ParamChange[] = [];
  const added: StateDiff['added'] = [];
  const removed: StateDiff['removed'] = [];
  let unchanged = 0;
  for (const [param, to] of Object.entries(after)) {
    const from = before[param];
    if (from === undefined) added.push({ param, to });
    else if (from === to) unchanged++;
    else all.push({ param, from, to, delta: tidy(to - from), rel_change: from === 0 ? null : tidy((to - from) / Math.abs(from)) });
  }
  for (const [param, from] of Object.entries(before)) if (!(param in after)) removed.push({ param, from });
  all.sort((a, b) => magnitude(b) - magnitude(a) || a.param.localeCompare(b.param));
  return { updated: all.slice(0, DIFF_TOP), updated_total: all.length, added, removed, unchanged, all };
}

/** |rel_change|, with a change away from exactly 0 ranked above everything. */
function magnitude(change: ParamChange): number {
  return change.rel_change === null ? Number.POSITIVE_INFINITY : Math.abs(change.rel_change);
}

/**
 * 5 % historical VaR of per-trade pnl in pips, reported as a loss (positive = losing): minus
 * the lower empirical 5 % quantile, i.e. the ⌈0.05·n⌉-th worst trade. Null without trades.
 */
export function historicalVar(pnlPips: number[], tail = VAR_TAIL): number | null {
  if (pnlPips.length === 0) return null;
  const sorted = [...pnlPips].sort((a, b) => a - b);
  const index = Math.max(0, Math.ceil(tail * sorted.length) - 1);
  return -sorted[index]! + 0; // + 0 turns -0 into 0
}

export function riskOf(newFills: Fill[], caps: Caps): RiskSummary {
  return {
    var: historicalVar(newFills.map((f) => f.pnl_pips)),
    var_cap: caps.varCap,
    liquidity_usage: newFills.reduce((sum, f) => sum + Math.abs(f.qty), 0),
    liquidity_cap: caps.liquidityCap,
  };
}

export function anomaliesOf(changes: ParamChange[], risk: RiskSummary, caps: Caps): Anomaly[] {
  const found: Anomaly[] = [];
  if (caps.maxDelta !== null) {
    for (const change of changes) {
      if (magnitude(change) > caps.maxDelta) {
        found.push({ type: 'max_delta_exceeded', param: change.param, value: change.rel_change, cap: caps.maxDelta });
      }
    }
  }
  if (caps.varCap !== null && risk.var !== null && risk.var > caps.varCap) {
    found.push({ type: 'var_cap_exceeded', value: risk.var, cap: caps.varCap });
  }
  if (caps.liquidityCap !== null && risk.liquidity_usage > caps.liquidityCap) {
    found.push({ type: 'liquidity_cap_exceeded', value: risk.liquidity_usage, cap: caps.liquidityCap });
  }
  return found;
}

export interface DecisionInput {
  simulateLive: boolean;
  dryRun: boolean;
  overrideDisabled: boolean;
  anomalies: Anomaly[];
  newFills: number;
}

/**
 * applied only when nothing stands in the way. A dry run, a disabled override or a run without
 * --simulate-live is always a preview (its reasons still name the anomalies it would block on);
 * otherwise any anomaly blocks; with no new fills there is nothing to apply.
 */
export function decide(input: DecisionInput): { status: DecisionStatus; reasons: string[] } {
  const reasons: string[] = [];
  if (!input.simulateLive) reasons.push('simulate_live_off');
  if (input.dryRun) reasons.push('dry_run');
  if (input.overrideDisabled) reasons.push('override_disabled');
  for (const type of new Set(input.anomalies.map((a) => a.type))) reasons.push(`anomaly:${type}`);
  if (input.newFills === 0) reasons.push('no_new_fills');
  if (!input.simulateLive || input.dryRun || input.overrideDisabled) return { status: 'preview', reasons };
  if (input.anomalies.length) return { status: 'blocked', reasons };
  if (input.newFills === 0) return { status: 'preview', reasons };
  return { status: 'applied', reasons: ['conditions_met'] };
}
