// runtime/cli/sync.ts
// `runtime sync [--dry-run]`: runs the sync function now, a progress bar on a TTY, the summary as JSON on stdout.

import { SYNC_PROGRESS_LISTENER } from '../../functions/sync.ts';
import { BtcError } from '../errors.ts';
import { describeIssue, type ContinuityIssue } from '../sync/continuity.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson } from './output.ts';
import { progressBar } from './progress.ts';

export const syncCommand: Command = {
  name: 'sync',
  summary: 'sync the local cache to the primary now (gap-checked), summary JSON at the end',
  usage: 'runtime sync [--dry-run] [--concurrency N] [--config F]',
  options: { ...configOption, 'dry-run': { type: 'boolean' }, concurrency: { type: 'string' } },
  optionHelp: {
    ...configHelp,
    'dry-run': 'plan and check continuity only: nothing is uploaded or deleted',
    concurrency: 'uploads in flight at once (default 24)',
  },
  async run(flags) {
    const input: Record<string, unknown> = { dry_run: flags['dry-run'] === true };
    if (flags.concurrency !== undefined) {
      const n = Number(flags.concurrency);
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new BtcError('InvalidInput', `--concurrency must be an integer 1..64, got ${String(flags.concurrency)}`);
      input.concurrency = n;
    }
    const runtime = await loadRuntime(flags);
    const bar = progressBar(input.dry_run ? 'checking' : 'syncing');
    runtime.local.set(SYNC_PROGRESS_LISTENER, bar.update);
    try {
      const result = (await runtime.invoker.invoke('sync', input, 'cli')) as { ok: boolean; issues: ContinuityIssue[] };
      bar.finish();
      for (const issue of result.issues) console.error(color.red(`continuity: ${describeIssue(issue)}`));
      printJson(result);
      return result.ok && result.issues.length === 0 ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
};
