// runtime/cli/quality.ts
// `runtime quality`: the seed 003 data-quality check of one UTC day; exit 1 when a stream is below the coverage threshold.

import type { QualityRun } from '../dashboard-export/quality-run.ts';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, invokeOnce } from './load.ts';
import type { Command } from './main.ts';
import { printJson, writeJsonOut } from './output.ts';
import { listed } from './summaries.ts';

export const qualityCommand: Command = dutyCommand({
  ...listed('quality'),
  duty: 'data-quality',
  // --date and --coverage-threshold come from the data-quality duty's zod input.
  options: { ...configOption, 'json-out': { type: 'string' } },
  optionHelp: { ...configHelp, 'json-out': 'also write the summary JSON to this file' },
  async run(input, flags) {
    const report = (await invokeOnce(flags, 'data-quality', input)) as QualityRun;
    printJson(report);
    writeJsonOut(flags['json-out'], report);
    return report.status === 'ok' ? 0 : 1;
  },
});
