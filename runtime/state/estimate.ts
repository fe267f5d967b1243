// runtime/state/estimate.ts
// Re-estimation: folds new fills into a state (EV profile per gate bucket, slippage EWMA) and derives its params.

import type { StrategyConfig } from '../../config/schema.ts';
import { STATE_VERSION, type EvBucket, type Fill, type StateTarget, type StrategyState } from './model.ts';

type Model = StrategyConfig['model'];

/** A state with nothing learnt yet: the starting point of a new target or a `--reset`. */
export function emptyState(target: StateTarget, fingerprint: string): StrategyState {
  return {
    version: STATE_VERSION,
    strategy: target.strategy,
    symbol: target.symbol,
    mode: target.mode,
    config_fingerprint: fingerprint,
    updated_at: new Date(0).toISOString(),
    evidence: { last_fill_ts: null, fills_used: 0 },
    params: {},
    ev_profile: {},
    slippage: {},
  };
}

/** Fills newer than the state's watermark: the evidence this update is about. */
export function newFillsOf(state: StrategyState, fills: Fill[]): Fill[] {
  const since = state.evidence.last_fill_ts;
  return since === null ? fills : fills.filter((f) => f.ts > since);
}

/** Realised slippage in pips: positive when the fill was worse than expected for its side. */
export function slippagePips(fill: Fill, pipSize: number): number {
  const worse = fill.side === 'buy' ? fill.price - fill.expected_price : fill.expected_price - fill.price;
  return tidy(worse / pipSize);
}

/**
 * Folds `fills` (oldest first) into a copy of `state`. Counts and means are sufficient
 * statistics, so updating incrementally gives the same EV profile as re-estimating from all
 * fills; the EWMA continues from its last value.
 */
export function foldFills(state: StrategyState, fills: Fill[], model: Model, at: string): StrategyState {
  const next: StrategyState = structuredClone(state);
  next.updated_at = at;
  for (const fill of fills) {
    const bucket = next.ev_profile[fill.gate_bucket] ?? blankBucket();
    if (fill.pnl_pips > 0) {
      bucket.mean_win_pips = runningMean(bucket.mean_win_pips, bucket.wins, fill.pnl_pips);
      bucket.wins++;
    } else {
      bucket.mean_loss_pips = runningMean(bucket.mean_loss_pips, bucket.losses, -fill.pnl_pips);
      bucket.losses++;
    }
    next.ev_profile[fill.gate_bucket] = bucket;

    const slip = next.slippage[state.symbol] ?? { ewma_pips: 0, samples: 0 };
    const x = slippagePips(fill, model.pipSize);
    // The first sample seeds the average; otherwise a zero start would bias it for many fills.
    slip.ewma_pips = slip.samples === 0 ? x : model.slippageAlpha * x + (1 - model.slippageAlpha) * slip.ewma_pips;
    slip.samples++;
    next.slippage[state.symbol] = slip;
  }
  for (const bucket of Object.values(next.ev_profile)) posterior(bucket, model);
  if (fills.length) {
    next.evidence = { last_fill_ts: fills[fills.length - 1]!.ts, fills_used: state.evidence.fills_used + fills.length };
  }
  next.params = paramsOf(next);
  return next;
}

/** The named numbers the strategy reads: `ev.<bucket>.win_rate`, `ev.<bucket>.expected_pips`, `slippage.<symbol>.ewma_pips`. */
export function paramsOf(state: Pick<StrategyState, 'ev_profile' | 'slippage'>): Record<string, number> {
  const params: Record<string, number> = {};
  for (const [name, bucket] of Object.entries(state.ev_profile)) {
    params[`ev.${name}.win_rate`] = tidy(bucket.posterior_win_rate);
    params[`ev.${name}.expected_pips`] = tidy(bucket.expected_pips);
  }
  for (const [symbol, slip] of Object.entries(state.slippage)) params[`slippage.${symbol}.ewma_pips`] = tidy(slip.ewma_pips);
  return params;
}

/** 12 significant digits: drops binary floating-point noise (100.02 − 100 = 0.0199999…) so diffs show real changes only. */
export function tidy(x: number): number {
  return Number(x.toPrecision(12));
}

function blankBucket(): EvBucket {
  return { wins: 0, losses: 0, mean_win_pips: 0, mean_loss_pips: 0, posterior_win_rate: 0, expected_pips: 0 };
}

function runningMean(mean: number, count: number, sample: number): number {
  return mean + (sample - mean) / (count + 1);
}

/** Beta(prior.wins, prior.losses) posterior mean of the win rate, then the expected value in pips. */
function posterior(bucket: EvBucket, model: Model): void {
  const { wins, losses } = model.evPrior;
  const denominator = bucket.wins + bucket.losses + wins + losses;
  // A flat prior with no trades has no mean; 0.5 is the uninformed answer.
  const p = denominator > 0 ? (bucket.wins + wins) / denominator : 0.5;
  bucket.posterior_win_rate = p;
  bucket.expected_pips = p * bucket.mean_win_pips - (1 - p) * bucket.mean_loss_pips;
}
