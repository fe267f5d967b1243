// runtime/state/model.ts
// The state-update data model: state.json, fills, override flag and archived diffs (zod), their keys, the fingerprint.

import { sha256Hex } from '../hash.ts';
import { z } from 'zod';
import type { StrategyConfig } from '../../config/schema.ts';
import { symbolKey } from '../keys.ts';

/** Bumped when the state.json layout changes; a state of another version is refused on load. */
export const STATE_VERSION = 1;

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const sha256Digest = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest');

export const evBucketSchema = z.strictObject({
  wins: z.number().int().nonnegative(),
  losses: z.number().int().nonnegative(),
  /** Mean pnl of winning trades (pips, > 0). */
  mean_win_pips: finite,
  /** Mean loss of losing trades as a magnitude (pips, ≥ 0; break-even counts as a loss of 0). */
  mean_loss_pips: finite,
  /** Posterior mean of the win rate under the Beta prior of the strategy's model. */
  posterior_win_rate: finite,
  /** posterior_win_rate × mean_win_pips − (1 − posterior_win_rate) × mean_loss_pips. */
  expected_pips: finite,
});
export type EvBucket = z.infer<typeof evBucketSchema>;

export const slippageSchema = z.strictObject({
  /** EWMA of realised slippage in pips (positive = filled worse than expected). */
  ewma_pips: finite,
  samples: z.number().int().nonnegative(),
});
export type SlippageEstimate = z.infer<typeof slippageSchema>;

export const stateSchema = z.strictObject({
  version: z.literal(STATE_VERSION),
  strategy: z.string().min(1),
  symbol: z.string().min(1),
  mode: z.string().min(1),
  /** sha256 of the canonical JSON of the strategy's `model` config that produced this state. */
  config_fingerprint: sha256Digest,
  updated_at: z.string(),
  /** The newest fill folded in: later runs only use fills with a larger ts. */
  evidence: z.strictObject({ last_fill_ts: finite.nullable(), fills_used: z.number().int().nonnegative() }),
  /** Named numbers the strategy reads, derived from ev_profile and slippage (see paramsOf). */
  params: z.record(z.string(), finite),
  ev_profile: z.record(z.string(), evBucketSchema),
  slippage: z.record(z.string(), slippageSchema),
});
export type StrategyState = z.infer<typeof stateSchema>;

/** A number field of a fill: "missing" and "not a number" say which it was. */
const fillNumber = () =>
  z
    .number({ error: (issue) => (issue.input === undefined ? 'missing' : `not a number (${JSON.stringify(issue.input)})`) })
    .refine(Number.isFinite, 'must be a finite number');
const positive = () => fillNumber().refine((n) => n > 0, 'must be > 0');

/** One fill of evidence: a line of runs/<strategy>/<symbol>/<mode>/*.jsonl. */
export const fillSchema = z.object({
  /** Epoch ms, or an ISO-8601 string. */
  ts: z.union([fillNumber(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))], {
    error: (issue) => (issue.input === undefined ? 'missing' : 'not epoch ms or an ISO-8601 time'),
  }),
  side: z.enum(['buy', 'sell'], { error: (issue) => (issue.input === undefined ? 'missing' : 'must be buy or sell') }),
  qty: positive(),
  price: positive(),
  expected_price: positive(),
  pnl_pips: fillNumber(),
  gate_bucket: z.string({ error: (issue) => (issue.input === undefined ? 'missing' : 'not a string') }).min(1, 'must not be empty'),
});
export type Fill = z.output<typeof fillSchema>;

export const overrideSchema = z.strictObject({
  status: z.enum(['enabled', 'disabled']),
  reason: z.string(),
  at: z.string().nullable(),
  actor: z.string().nullable(),
});
export type OverrideFlag = z.infer<typeof overrideSchema>;

/** What applies when no override file exists: automatic adjustment is on. */
export const DEFAULT_OVERRIDE: OverrideFlag = { status: 'enabled', reason: 'default (no override set)', at: null, actor: null };

export const anomalySchema = z.object({
  type: z.enum(['max_delta_exceeded', 'var_cap_exceeded', 'liquidity_cap_exceeded']),
  /** The param for max_delta_exceeded. */
  param: z.string().optional(),
  value: z.number().nullable(),
  cap: z.number(),
});
export type Anomaly = z.infer<typeof anomalySchema>;

export const paramChangeSchema = z.object({
  param: z.string(),
  from: z.number(),
  to: z.number(),
  delta: z.number(),
  /** (to − from) / |from|; null when from is 0 and to is not (ranked first, exceeds any max-delta). */
  rel_change: z.number().nullable(),
});
export type ParamChange = z.infer<typeof paramChangeSchema>;

export const diffSchema = z.object({
  /** Changed params, top 20 by |rel_change|. */
  updated: z.array(paramChangeSchema),
  updated_total: z.number().int(),
  added: z.array(z.object({ param: z.string(), to: z.number() })),
  removed: z.array(z.object({ param: z.string(), from: z.number() })),
  unchanged: z.number().int(),
});
export type StateDiff = z.infer<typeof diffSchema>;

export const riskSchema = z.object({
  /** 5 % historical VaR of per-trade pnl of the new fills, in pips (positive = a loss); null without new fills. */
  var: z.number().nullable(),
  var_cap: z.number().nullable(),
  /** Sum of |qty| of the fills since the last applied update. */
  liquidity_usage: z.number(),
  liquidity_cap: z.number().nullable(),
});
export type RiskSummary = z.infer<typeof riskSchema>;

export const DECISION_STATUSES = ['applied', 'preview', 'blocked'] as const;
export type DecisionStatus = (typeof DECISION_STATUSES)[number];

/** Layout of state_archive/<strategy>/<symbol>/<mode>/<ts>_diff.json (CONTRACT: status, reason[], diff, anomalies, risk). */
export const archivedDiffSchema = z.object({
  status: z.enum(DECISION_STATUSES),
  reason: z.array(z.string()),
  diff: diffSchema,
  anomalies: z.array(anomalySchema),
  risk: riskSchema,
  strategy: z.string(),
  symbol: z.string(),
  mode: z.string(),
  config_fingerprint: z.string(),
  at: z.string(),
  host: z.string(),
});
export type ArchivedDiff = z.infer<typeof archivedDiffSchema>;

/** Which state a run is about; `symbol` is in key form (BTC-USDT). */
export interface StateTarget {
  strategy: string;
  symbol: string;
  mode: string;
}

export function targetOf(strategy: string, symbol: string, mode: string): StateTarget {
  return { strategy, symbol: symbolKey(symbol), mode };
}

/** Archived diff names: `<YYYYMMDDTHHMMSSmmmZ>_diff.json`, so name order is time order. */
export const ARCHIVE_NAME = /^(\d{8}T\d{9}Z)_diff\.json$/;

/** JSON with object keys sorted at every level: the same config always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** config_fingerprint: sha256 of the canonical JSON of the strategy's `model` block. */
export function configFingerprint(strategy: StrategyConfig): string {
  return sha256Hex(canonicalJson(strategy.model));
}
