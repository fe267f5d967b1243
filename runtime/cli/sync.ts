// runtime/cli/sync.ts
// `runtime sync [--dry-run]`: runs the sync function now, a progress bar on a TTY, a one-line account and the summary JSON at the end.

import { capYoungGeneration, SYNC_NEW_SPACE_MB } from '../heap.ts';
import { SYNC_PROGRESS_SLOT, type SyncSummary } from '../sync/engine.ts';
import { describeIssue } from '../sync/continuity.ts';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson } from './output.ts';
import { progressBar } from './progress.ts';
import { listed } from './summaries.ts';

/** 128 + SIGINT: what a shell reports for a command stopped by Ctrl-C. */
const EXIT_INTERRUPTED = 130;

export const syncCommand: Command = dutyCommand({
  ...listed('sync'),
  duty: 'sync',
  options: { ...configOption },
  optionHelp: { ...configHelp },
  // --dry-run, --concurrency, … come from the sync duty's zod input (flags-from-zod.ts).
  async run(input, flags) {
    // This process exists to sync: a small young generation keeps its peak RSS down (heap.ts).
    capYoungGeneration(SYNC_NEW_SPACE_MB);
    const runtime = await loadRuntime(flags, undefined, { runsOnly: 'sync' });
    const bar = progressBar(input.dry_run ? 'checking' : 'syncing');
    runtime.local.set(SYNC_PROGRESS_SLOT, bar.update);
    // Ctrl-C (SIGINT; SIGBREAK is Ctrl-Break on Windows) stops the run the way a shutdown does:
    // uploads in flight finish, nothing new starts, the engine audits collector.sync.failed with
    // reason "aborted". A second Ctrl-C quits at once (the cache keeps whatever is left).
    let interrupted: NodeJS.Signals | null = null;
    let stopping: Promise<void> | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted) process.exit(EXIT_INTERRUPTED);
      interrupted = signal;
      bar.finish();
      console.error(`${signal}: stopping after the uploads in flight (press Ctrl-C again to quit at once)`);
      stopping = runtime.shutdown();
    };
    const signals: NodeJS.Signals[] = process.platform === 'win32' ? ['SIGINT', 'SIGBREAK'] : ['SIGINT'];
    for (const s of signals) process.on(s, onSignal);
    try {
      const result = (await runtime.invoker.invoke('sync', input, 'cli')) as SyncSummary & { pending: boolean };
      bar.finish();
      for (const issue of result.issues) console.error(color.red(`continuity: ${describeIssue(issue)}`));
      console.error(accountOf(result, interrupted !== null));
      printJson(result);
      if (interrupted) return EXIT_INTERRUPTED;
      return result.ok && result.issues.length === 0 ? 0 : 1;
    } finally {
      await (stopping ?? runtime.shutdown());
      for (const s of signals) process.off(s, onSignal);
    }
  },
});

/** The one line a person reads: what was (or would be) copied, and what is left in the cache. */
function accountOf(result: SyncSummary, interrupted: boolean): string {
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  // A run refused before planning (primary_down) has no plan.
  const plan = result.plan ?? { items: 0, bytes: 0 };
  if (result.dry_run) {
    const would = result.would_copy ?? { items: 0, bytes: 0 };
    return `dry run: would copy ${would.items} of ${plan.items} item(s) (${mb(would.bytes)}); nothing was uploaded or deleted`;
  }
  const done = `${result.items} of ${plan.items} item(s) (${mb(result.bytes)} of ${mb(plan.bytes)})`;
  const remaining = Math.max(0, plan.items - result.items);
  if (interrupted) return color.yellow(`interrupted: copied ${done}; ${remaining} item(s) remain in the cache — run \`runtime sync\` again to finish`);
  if (result.reason) return color.red(`sync stopped (${result.reason}): copied ${done}; ${remaining} item(s) remain in the cache`);
  return `copied ${done} in ${(result.elapsed_ms / 1000).toFixed(1)} s`;
}
