// runtime/worker/schedule-due.ts
// Whether a schedule is due at a workerd cron tick: a croner pattern, or an `everySeconds` period judged without memory between ticks.

import { Cron } from 'croner';

/** A croner pattern is due when its next run after one minute before the tick is not after the tick (cron ticks are per minute). */
export function cronDue(pattern: string, scheduledTimeMs: number): boolean {
  const next = new Cron(pattern, { paused: true }).nextRun(new Date(scheduledTimeMs - 60_000));
  return next !== null && next.getTime() <= scheduledTimeMs;
}

/**
 * An `everySeconds` schedule on cron ticks, without memory (an isolate may be new at every tick):
 * due when a multiple of the period lies in (previous tick, this tick]. A period no longer than
 * the tick interval runs at every tick. Ticks are the trigger pattern's own times (a late
 * delivery counts as its tick), 60 s apart when the pattern does not parse.
 */
export function periodDue(periodMs: number, cron: string, scheduledTimeMs: number): boolean {
  const { tick, interval } = tickOf(cron, scheduledTimeMs);
  if (periodMs <= interval) return true;
  return Math.floor(tick / periodMs) > Math.floor((tick - interval) / periodMs);
}

/** The trigger pattern's tick at or before `scheduledTimeMs` and the time since the one before (ms); per minute when the pattern does not parse. */
function tickOf(cron: string, scheduledTimeMs: number): { tick: number; interval: number } {
  try {
    const job = new Cron(cron, { paused: true });
    const tick = job.previousRuns(1, new Date(scheduledTimeMs + 1))[0];
    const previous = tick && job.previousRuns(1, tick)[0];
    if (tick && previous) return { tick: tick.getTime(), interval: tick.getTime() - previous.getTime() };
  } catch {
    // not a pattern croner reads: per minute, as Cloudflare's finest trigger
  }
  return { tick: scheduledTimeMs, interval: 60_000 };
}
