// runtime/collector/mode.ts
// The `streams` DIAG reason: raised after repeated stream failures — at once for a full or failing disk, which is also the `disk_full` reason — with evidence in the audit; cleared once every stream is healthy again.

import type { FnContext } from '../define.ts';
import { clearDiag, diagOwned, raiseDiag } from '../diag-reasons.ts';
import { defineSlot } from '../local-slots.ts';
import type { StreamState } from './stream-state.ts';

/** Consecutive all-healthy ticks before DIAG is lifted (one good tick can be luck). */
export const HEALTHY_TICKS_TO_PROD = 2;

interface DiagState {
  /** DIAG was entered by the collector (it lifts only its own DIAG). */
  enteredByCollector: boolean;
  healthyTicks: number;
}

/** The collector's DIAG bookkeeping: written and read only by updateCollectorMode (after each collect tick). */
const DIAG_SLOT = defineSlot<DiagState>('collector:diag');

/** This PC's own failures: a full or failing disk sends the collector to DIAG at once, not after N tries. */
const DISK_CAUSES: ReadonlySet<string> = new Set(['disk_full', 'io_error']);

/**
 * Moves the collector's mode after a tick. `shipFailures` are the streams whose segments could not
 * be uploaded this tick (RawStreams.shipFailureOf), with their cause: one with a disk cause counts
 * like a failing stream. Resolves with the mode after the update.
 */
export async function updateCollectorMode(
  ctx: FnContext,
  streams: Array<{ name: string; state: StreamState }>,
  shipFailures: Array<{ name: string; cause: string }> = [],
): Promise<string> {
  const diag = ctx.local.ensure(DIAG_SLOT, () => ({ enteredByCollector: false, healthyTicks: 0 }));
  const threshold = ctx.config.collector.diagAfterFailures;
  const failing = streams.filter((s) => s.state.failures >= threshold || (s.state.failures > 0 && DISK_CAUSES.has(s.state.cause ?? '')));
  const diskShip = shipFailures.filter((f) => DISK_CAUSES.has(f.cause));
  const mode = ctx.mode.get();

  // This PC's disk refusing writes is its own DIAG reason (runtime/diag-reasons.ts), raised and lifted every tick.
  const disk = [
    ...failing.filter((s) => DISK_CAUSES.has(s.state.cause ?? '')).map((s) => `${s.name} (${s.state.cause})`),
    ...diskShip.map((f) => `${f.name} segments (${f.cause})`),
  ];
  if (disk.length) await raiseDiag(ctx, 'disk_full', `the data disk refuses writes: ${disk.join(', ')}`);
  else await clearDiag(ctx, 'disk_full', 'the data disk takes writes again');

  // DIAG is one list of reasons (runtime/diag-reasons.ts): failing streams are the `streams` reason.
  // From PROD, or into a DIAG the list already holds; never into a DIAG forced by BTC_TS_MODE.
  if (!diag.enteredByCollector && (failing.length || diskShip.length) && (mode === 'PROD' || (mode === 'DIAG' && diagOwned(ctx)))) {
    const evidence = [
      ...failing.map((s) => ({ stream: s.name, cause: s.state.cause, retries: s.state.failures, error: s.state.lastError })),
      ...diskShip.map((f) => ({ stream: f.name, cause: f.cause, retries: 0, error: 'segments could not be written for upload' })),
    ];
    const reasons = [
      ...failing.map((s) => `${s.name} failed ${s.state.failures}× (${s.state.cause})`),
      ...diskShip.map((f) => `${f.name} segments wait locally (${f.cause})`),
    ];
    await ctx.audit.record('collector.diag.enter', { streams: evidence });
    await raiseDiag(ctx, 'streams', `collector: ${reasons.join(', ')}`);
    diag.enteredByCollector = true;
    diag.healthyTicks = 0;
  } else if (diag.enteredByCollector) {
    const healthy = streams.every((s) => s.state.failures === 0 && s.state.lastOkMs !== null) && diskShip.length === 0;
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
