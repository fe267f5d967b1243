// test/scheduler.test.ts
// Schedules: a missing function refuses start; a slow run is never overlapped; a failing run never stops the job.

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineFunction, type AnyFunction } from '../runtime/define.ts';
import { BtcError } from '../runtime/errors.ts';
import { loadSchedules, type ScheduleDef } from '../runtime/registry.ts';
import { startScheduler } from '../runtime/scheduler.ts';
import { testRuntime } from './helpers/runtime-inproc.ts';

describe('schedules', () => {
  it('refuses schedules that name a missing function', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-sched-'));
    writeFileSync(path.join(dir, 'ghost.ts'), "export default { fn: 'no-such-fn', everySeconds: 1 };\n");
    const err = await loadSchedules(new Map(), dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BtcError);
    expect((err as BtcError).message).toMatch(/ghost → no-such-fn/);
  });

  it('the shipped schedules all resolve', async () => {
    const rt = await testRuntime();
    expect(rt.schedules.map((s) => s.fn)).toContain('storage-probe');
    await rt.dispose();
  });

  it('a start delay holds the first run back, then the period applies', async () => {
    const at: number[] = [];
    const started = performance.now();
    await runScheduled(
      async () => {
        at.push(performance.now() - started);
      },
      { everySeconds: 0.3, startDelaySeconds: 0.8 },
      1_500,
    );
    expect(at.length).toBeGreaterThanOrEqual(2); // 0.8 s, 1.1 s, 1.4 s on an idle machine
    expect(at[0]).toBeGreaterThanOrEqual(790);
  });

  it('skips a tick while the previous run is in flight and keeps going after failures', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    await runScheduled(
      async () => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((r) => setTimeout(r, 250));
        concurrent--;
        runs++;
        if (runs % 2 === 0) throw new Error('planned failure');
      },
      { everySeconds: 0.1 },
      1_600,
      300,
    );
    expect(maxConcurrent).toBe(1);
    // ~1.6 s / 250 ms per run, ticks every 100 ms: about 5–6 runs, never the 16 ticks; at least
    // three (a loaded machine delays timers), so it went on after the planned failure of run 2.
    expect(runs).toBeGreaterThanOrEqual(3);
    expect(runs).toBeLessThanOrEqual(7);
  });
});

/** Schedules `body` as a function on a test runtime for `forMs`, stops, and lets a last run finish within `settleMs`. */
async function runScheduled(body: () => Promise<void>, timing: Pick<ScheduleDef, 'everySeconds' | 'startDelaySeconds'>, forMs: number, settleMs = 0): Promise<void> {
  const job = defineFunction({
    name: 'job',
    description: 'the scheduled body under test',
    input: z.object({}),
    output: z.object({}),
    run: async () => {
      await body();
      return {};
    },
  }) as AnyFunction;
  const rt = await testRuntime({}, { functions: new Map([['job', job]]), schedules: [] });
  const scheduler = startScheduler({ schedules: [{ name: 'job', fn: 'job', ...timing }], invoker: rt.invoker, config: rt.loaded.config, context: rt.context, log: rt.log });
  await new Promise((r) => setTimeout(r, forMs));
  scheduler.stop();
  await new Promise((r) => setTimeout(r, settleMs));
  await rt.dispose();
}
