// test/helpers/sequencer.ts
// Vitest file order: longest first, so no minute-long file starts last and stretches the run's wall time.

import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each slow file took in a fresh-clone run on an idle 2-core machine (`npm test`,
 * per-file times of the default reporter). Used only for files this checkout has no cached result
 * for (a fresh clone, a cleared cache); a file not listed and not cached counts as 0 s.
 */
const SECONDS: Record<string, number> = {
  'test/e2e/leader-failover.test.ts': 71,
  'test/collector.faults.test.ts': 50,
  'test/e2e/leader-race.test.ts': 43,
  'test/worker.test.ts': 30,
  'test/e2e/dashboard-charts.browser.test.ts': 35,
  'test/collector.data-quality.test.ts': 28,
  'test/e2e/sync-failover.test.ts': 25,
  'test/e2e/version-limit.test.ts': 25,
  'test/e2e/dashboard.browser.test.ts': 24,
  'test/e2e/sync-slowdown.test.ts': 21,
  'test/collector.ws-ticker-ohlcv.test.ts': 19,
  'test/alerts.test.ts': 19,
  'test/e2e/alerts-failover.test.ts': 17,
  'test/collector.bans.test.ts': 17,
  'test/e2e/leader-shards.test.ts': 17,
  'test/e2e/disk-full.test.ts': 14,
  'test/collector.config.test.ts': 12,
  'test/conditional-writes.test.ts': 13,
  'test/lake.test.ts': 13,
  'test/e2e/collector-ws-failover.test.ts': 11,
  'test/e2e/sync-kill.test.ts': 11,
  'test/e2e/cross-site.browser.test.ts': 11,
  'test/start-refusals.test.ts': 10,
  'test/e2e/host-status.test.ts': 9,
  'test/e2e/health-demo.test.ts': 9,
  'test/file-lock-fallback.test.ts': 9,
  'test/store.contract.test.ts': 9,
  'test/e2e/collector-failover.test.ts': 8,
  'test/e2e/cli-one-run.test.ts': 8,
  'test/dashboard-verify.test.ts': 8,
};

/**
 * Vitest's own order (sequence.sequencer's default, BaseSequencer.sort) runs failed files first,
 * then the longest by the cached durations of the last run, but with no cache (a fresh clone) it
 * falls back to file size, and a short file of a long test (e2e/leader-race: 64 lines, 43 s) may
 * start last: the other fork then idles while it runs. Here a file's duration is its cached one,
 * else the table above; failed files still go first, then the longest.
 */
export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const cache = this.ctx.cache;
    const known = (spec: TestSpecification) => {
      const rel = path.relative(root, spec.moduleId).split(path.sep).join('/');
      const cached = cache.getFileTestResults(`${spec.project.name}:${rel}`);
      return { failed: cached?.failed ?? false, ms: cached?.duration ?? (SECONDS[rel] ?? 0) * 1000 };
    };
    const info = new Map(files.map((f) => [f, known(f)]));
    return [...files].sort((a, b) => {
      const ia = info.get(a)!;
      const ib = info.get(b)!;
      if (ia.failed !== ib.failed) return ia.failed ? -1 : 1;
      return ib.ms - ia.ms;
    });
  }
}
