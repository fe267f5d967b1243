// runtime/collector/mode.ts
// The `streams` DIAG reason: raised after repeated stream failures (evidence in the audit), cleared once every stream is healthy again.

import type { FnContext } from '../define.ts';
import { clearDiag, diagOwned, raiseDiag } from '../diag-reasons.ts';
import type { StreamState } from './tick.ts';

const DIAG_KEY = 'collector:diag';
/** Consecutive all-healthy ticks before DIAG is lifted (one good tick can be luck). */
export const HEALTHY_TICKS_TO_PROD = 2;

interface DiagState {
  /** DIAG was entered by the collector (it lifts only its own DIAG). */
  enteredByCollector: boolean;
  healthyTicks: number;
}

export async function updateCollectorMode(ctx: FnContext, streams: Array<{ name: string; state: StreamState }>): Promise<string> {
  const diag = (ctx.local.get(DIAG_KEY) as DiagState | undefined) ?? { enteredByCollector: false, healthyTicks: 0 };
  ctx.local.set(DIAG_KEY, diag);
  const threshold = ctx.config.collector.diagAfterFailures;
  const failing = streams.filter((s) => s.state.failures >= threshold);
  const mode = ctx.mode.get();

  // DIAG is one list of reasons (runtime/diag-reasons.ts): failing streams are the `streams` reason.
  // From PROD, or into a DIAG the list already holds; never into a DIAG forced by BTC_TS_MODE.
  if (!diag.enteredByCollector && failing.length && (mode === 'PROD' || (mode === 'DIAG' && diagOwned(ctx)))) {
    const evidence = failing.map((s) => ({ stream: s.name, cause: s.state.cause, retries: s.state.failures, error: s.state.lastError }));
    await ctx.audit.record('collector.diag.enter', { streams: evidence });
    await raiseDiag(ctx, 'streams', `collector: ${failing.map((s) => `${s.name} failed ${s.state.failures}× (${s.state.cause})`).join(', ')}`);
    diag.enteredByCollector = true;
    diag.healthyTicks = 0;
  } else if (diag.enteredByCollector) {
    const healthy = streams.every((s) => s.state.failures === 0 && s.state.lastOkMs !== null);
    diag.healthyTicks = healthy ? diag.healthyTicks + 1 : 0;
    if (diag.healthyTicks >= HEALTHY_TICKS_TO_PROD) {
      await ctx.audit.record('collector.diag.exit', { healthy_ticks: diag.healthyTicks });
      await clearDiag(ctx, 'streams', 'collector: every stream healthy again');
      diag.enteredByCollector = false;
      diag.healthyTicks = 0;
    }
  }
  return ctx.mode.get();
}
