// runtime/cli/health.ts
// `runtime health --dry-run`: per stream, latest CSV vs last raw record, last record age vs threshold, gap inventory; display only.

import { BtcError } from '../errors.ts';
import { inspectStreams } from '../health.ts';
import { DEFAULT_TIMEFRAME } from '../collector/topics.ts';
import { describeIssue, spacingOfStreams } from '../sync/continuity.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

export const healthCommand: Command = {
  ...listed('health'),
  usage: 'runtime health --dry-run [--days N] [--max-age-s S] [--json] [--config FILE]',
  options: { ...configOption, 'dry-run': { type: 'boolean' }, days: { type: 'string' }, 'max-age-s': { type: 'string' }, json: { type: 'boolean' } },
  optionHelp: {
    ...configHelp,
    'dry-run': 'required: health only reads and displays',
    days: 'date partitions to inspect, counting back from today (default 2)',
    'max-age-s': 'a last record older than this is stale (default 3 ticks, at least 60 s)',
    json: 'print the per-stream result as JSON',
  },
  async run(flags) {
    if (flags['dry-run'] !== true) throw new BtcError('InvalidInput', 'health is display only: run it as `runtime health --dry-run`');
    const days = positiveNumber(flags.days, 2, '--days');
    const runtime = await loadRuntime(flags);
    try {
      const tickMs = runtime.loaded.config.collector.tickSeconds * 1000;
      const maxAgeMs = positiveNumber(flags['max-age-s'], Math.max(60, (3 * tickMs) / 1000), '--max-age-s') * 1000;
      const streams = await inspectStreams({
        primary: runtime.store.primary,
        cache: runtime.store.cache,
        streams: runtime.loaded.config.collector.streams,
        now: runtime.clock.now(),
        days,
        maxAgeMs,
        toleranceMs: 3 * tickMs,
        timeGapMs: 2 * tickMs,
        spacingMs: spacingOfStreams(runtime.loaded.config.collector.streams, DEFAULT_TIMEFRAME),
      });
      if (flags.json) printJson({ streams });
      else if (streams.length === 0) console.log('no streams configured or found');
      else {
        printTable(
          ['', 'stream', 'segments', 'cache', 'last epoch/seq', 'last record age', 'latest vs raw', 'gaps', 'reason'],
          streams.map((s) => [
            s.ok ? color.green('ok') : color.red('FAIL'),
            s.stream,
            String(s.segments),
            s.pending_in_cache ? color.yellow(String(s.pending_in_cache)) : '0',
            s.last ? `${s.last.epoch}/${s.last.seq}` : '—',
            s.last ? (s.age_ok ? color.green : color.red)(`${Math.round(s.last.age_ms / 1000)} s`) : color.red('no data'),
            s.latest_csv ? (s.latest_csv.ok ? color.green : color.red)(s.latest_csv.delta_ms === null ? 'no ts' : `Δ ${s.latest_csv.delta_ms} ms`) : color.dim('no csv'),
            s.issues.length ? color.red(String(s.issues.length)) : color.green('0'),
            s.reasons.join('; '),
          ]),
        );
        for (const s of streams) for (const issue of s.issues) console.log(color.red(`  ${issue.kind}: ${describeIssue(issue)}`));
        const failed = streams.filter((s) => !s.ok).length;
        console.log(failed ? color.red(`${failed} of ${streams.length} stream(s) FAIL`) : color.green(`all ${streams.length} stream(s) ok`));
      }
      return streams.every((s) => s.ok) ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
};

function positiveNumber(raw: unknown, fallback: number, name: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new BtcError('InvalidInput', `${name} must be a positive number, got ${String(raw)}`);
  return n;
}
