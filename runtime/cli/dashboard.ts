// runtime/cli/dashboard.ts
// `runtime dashboard export` and `runtime dashboard verify`: the seed's export CLI and nightly chain check.

import { writeFileSync } from 'node:fs';
import { BtcError } from '../errors.ts';
import type { ExportSummary } from '../dashboard-export/export.ts';
import { DATASETS, isDatasetName } from '../dashboard-export/keys.ts';
import { verifyChain } from '../dashboard-export/verify.ts';
import { defaultMaxHeartbeatAgeMs } from '../dashboard-export/verify-run.ts';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { printJson } from './output.ts';

export const dashboardExportCommand: Command = dutyCommand({
  name: 'dashboard export',
  duty: 'dashboard-export',
  summary: 'export the dashboard datasets, manifest, heartbeat and history',
  usage: 'runtime dashboard export [--dataset D]… [--job-id ID] [--no-upload] [--upload-command CMD] [--json-out F] [--config F]',
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
    const runtime = await loadRuntime(flags, command === undefined ? undefined : { dashboard: { uploadCommand: command } }, { runsOnly: 'dashboard-export' });
    try {
      const summary = (await runtime.invoker.invoke('dashboard-export', input, 'cli')) as ExportSummary;
      printJson(summary);
      if (flags['json-out']) writeFileSync(flags['json-out'] as string, JSON.stringify(summary, null, 2) + '\n');
      return summary.status === 'ok' ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
});

export const dashboardVerifyCommand: Command = {
  name: 'dashboard verify',
  summary: 'nightly check: automation log, heartbeat age, dataset checksums, secrets',
  usage: 'runtime dashboard verify [--max-heartbeat-age-h H] [--expected-dataset D]… [--secret NAME]… [--config F]',
  options: {
    ...configOption,
    'max-heartbeat-age-h': { type: 'string' },
    'expected-dataset': { type: 'string', multiple: true },
    secret: { type: 'string', multiple: true },
  },
  optionHelp: {
    ...configHelp,
    'max-heartbeat-age-h': 'fail when the heartbeat or a dataset success is older (hours; default one export period plus a quarter, 7.5 for 6 h)',
    'expected-dataset': 'dataset that must be present and ok (repeatable; default all)',
    secret: 'environment variable that must be set (repeatable; only names are reported)',
  },
  async run(flags) {
    const hours = flags['max-heartbeat-age-h'] === undefined ? null : Number(flags['max-heartbeat-age-h']);
    if (hours !== null && (!Number.isFinite(hours) || hours <= 0)) throw new BtcError('InvalidInput', '--max-heartbeat-age-h must be a positive number of hours');
    const expected = (flags['expected-dataset'] as string[] | undefined) ?? [...DATASETS];
    const bad = expected.filter((d) => !isDatasetName(d));
    if (bad.length) throw new BtcError('InvalidInput', `unknown dataset ${bad.join(', ')} (expected ${DATASETS.join(', ')})`);
    const runtime = await loadRuntime(flags);
    try {
      const report = await verifyChain(runtime.store.primary, {
        now: runtime.clock.now(),
        maxHeartbeatAgeMs: hours === null ? defaultMaxHeartbeatAgeMs(runtime.loaded.config) : hours * 3_600_000,
        expectedDatasets: expected,
        secrets: (flags.secret as string[] | undefined) ?? [],
        env: process.env,
      });
      printJson(report);
      return report.status === 'ok' ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
};
