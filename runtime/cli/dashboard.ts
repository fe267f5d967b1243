// runtime/cli/dashboard.ts
// `runtime dashboard export` and `runtime dashboard verify`: the seed's export CLI and nightly chain check.

import type { ExportSummary } from '../dashboard-export/export.ts';
import { DATASETS } from '../dashboard-export/keys.ts';
import { verifyChain, verifyInputSchema, type VerifyInput } from '../dashboard-export/verify.ts';
import { defaultMaxHeartbeatAgeMs } from '../dashboard-export/verify-run.ts';
import { dutyCommand, zodCommand } from './flags-from-zod.ts';
import { configHelp, configOption, invokeOnce, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { printJson, writeJsonOut } from './output.ts';
import { listed } from './summaries.ts';

export const dashboardExportCommand: Command = dutyCommand({
  ...listed('dashboard export'),
  duty: 'dashboard-export',
  // --dataset (the input's datasets), --job-id and --no-upload come from the dashboard-export duty's zod input.
  flagNames: { datasets: 'dataset' },
  options: { ...configOption, 'upload-command': { type: 'string' }, 'json-out': { type: 'string' } },
  optionHelp: {
    ...configHelp,
    'upload-command': 'command run after a successful export, by /bin/sh (cmd.exe on Windows) (default: dashboard.uploadCommand)',
    'json-out': 'also write the summary JSON to this file',
  },
  async run(input, flags) {
    // The duty takes its upload command from the config only (HTTP may switch it off, never supply
    // one); the command line's --upload-command is this run's config value.
    const command = flags['upload-command'] as string | undefined;
    const summary = (await invokeOnce(flags, 'dashboard-export', input, command === undefined ? undefined : { dashboard: { uploadCommand: command } })) as ExportSummary;
    printJson(summary);
    writeJsonOut(flags['json-out'], summary);
    return summary.status === 'ok' ? 0 : 1;
  },
});

// Its flags are the check's own limits (the dashboard-verify duty takes no input), judged by the
// schema a worker's POST /dashboard/verify judges its body with.
export const dashboardVerifyCommand: Command = zodCommand(verifyInputSchema, {
  ...listed('dashboard verify'),
  flagNames: { expected_datasets: 'expected-dataset', secrets: 'secret' },
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    const { max_heartbeat_age_h: hours, expected_datasets: expected, secrets } = input as VerifyInput;
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true }); // reads the store only
    try {
      const report = await verifyChain(runtime.store.primary, {
        now: runtime.clock.now(),
        maxHeartbeatAgeMs: hours === undefined ? defaultMaxHeartbeatAgeMs(runtime.loaded.config) : hours * 3_600_000,
        expectedDatasets: expected ?? [...DATASETS],
        secrets: secrets ?? [],
        env: process.env,
      });
      printJson(report);
      return report.status === 'ok' ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
}, 'input of the check (a worker\'s POST /dashboard/verify takes the same keys):');
