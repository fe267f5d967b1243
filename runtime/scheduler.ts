// runtime/scheduler.ts
// Runs the schedules: croner for cron patterns, a drift-free timer for sub-second periods; never overlaps.

import { Cron } from 'croner';
import type { AppConfig } from '../config/schema.ts';
import type { FnContext } from './define.ts';
import type { Invoker } from './invoker.ts';
import type { Logger } from './logger.ts';
import type { ScheduleDef } from './registry.ts';

export interface SchedulerOptions {
  schedules: ScheduleDef[];
  invoker: Invoker;
  config: AppConfig;
  context: () => FnContext;
  log: Logger;
}

export interface Scheduler {
  stop(): void;
  /** Job names and their period or pattern, for status and `--help`. */
  describe(): Array<{ name: string; fn: string; every: string }>;
}

export function startScheduler(options: SchedulerOptions): Scheduler {
  const { schedules, invoker, config, context, log } = options;
  const stoppers: Array<() => void> = [];

  const runOnce = async (schedule: ScheduleDef) => {
    if (schedule.when && !schedule.when(context())) return;
    await invoker.invoke(schedule.fn, schedule.input ?? {}, 'cron');
  };
  const onError = (schedule: ScheduleDef) => (err: unknown) => {
    log.warn({ job: schedule.name, fn: schedule.fn, err: err instanceof Error ? err.message : String(err) }, 'scheduled run failed');
  };
  const onSkip = (schedule: ScheduleDef) => {
    log.debug({ job: schedule.name, fn: schedule.fn }, 'previous run still in flight; skipped');
  };

  for (const schedule of schedules) {
    if (schedule.cron) {
      const job = new Cron(
        schedule.cron,
        {
          name: `btc-ts:${schedule.name}`,
          ...(schedule.timezone ? { timezone: schedule.timezone } : {}),
          protect: () => onSkip(schedule),
          catch: onError(schedule),
        },
        () => runOnce(schedule),
      );
      stoppers.push(() => job.stop());
    } else {
      const seconds = typeof schedule.everySeconds === 'function' ? schedule.everySeconds(config) : schedule.everySeconds!;
      const delay = typeof schedule.startDelaySeconds === 'function' ? schedule.startDelaySeconds(config) : (schedule.startDelaySeconds ?? 0);
      stoppers.push(every(seconds * 1000, delay * 1000, () => runOnce(schedule), onError(schedule), () => onSkip(schedule)));
    }
  }
  return {
    stop: () => stoppers.splice(0).forEach((stop) => stop()),
    describe: () =>
      schedules.map((s) => ({
        name: s.name!,
        fn: s.fn,
        every: s.cron ?? `${typeof s.everySeconds === 'function' ? s.everySeconds(config) : s.everySeconds}s`,
      })),
  };
}

/**
 * Fires `task` every `periodMs` on a fixed grid (no drift), the first run `delayMs` after start.
 * A tick that finds the previous run still going is skipped and reported (croner's `protect` semantics).
 */
function every(periodMs: number, delayMs: number, task: () => Promise<void>, onError: (err: unknown) => void, onSkip: () => void): () => void {
  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const origin = performance.now() + delayMs;
  let n = 0;
  const tick = () => {
    if (stopped) return;
    if (running) onSkip();
    else {
      running = true;
      task()
        .catch(onError)
        .finally(() => (running = false));
    }
    n = Math.max(n + 1, Math.floor((performance.now() - origin) / periodMs) + 1);
    timer = setTimeout(tick, Math.max(0, origin + n * periodMs - performance.now()));
  };
  timer = setTimeout(tick, delayMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
