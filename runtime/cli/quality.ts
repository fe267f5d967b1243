// runtime/cli/quality.ts
// `runtime quality`: the seed 003 data-quality check of one UTC day; exit 1 when a stream is below the coverage threshold.

import { writeFileSync } from 'node:fs';
import { BtcError } from '../errors.ts';
import { parseQualityDate, runQuality } from '../dashboard-export/quality-run.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { printJson } from './output.ts';

export const qualityCommand: Command = {
  name: 'quality',
  summary: 'data quality of a UTC day: coverage_ratio per stream, gap inventory (quality/dt=<date>/)',
  usage: 'runtime quality [--date YYYY-MM-DD] [--coverage-threshold X] [--json-out F] [--config F]',
  options: {
    ...configOption,
    date: { type: 'string' },
    'coverage-threshold': { type: 'string' },
    'json-out': { type: 'string' },
  },
  optionHelp: {
    ...configHelp,
    date: 'UTC day to judge (default yesterday; today judges up to now)',
    'coverage-threshold': 'fail below this coverage_ratio, 0..1 (default quality.coverageThreshold, 0.95)',
    'json-out': 'also write the summary JSON to this file',
  },
  async run(flags) {
    const date = flags.date === undefined ? undefined : parseQualityDate(String(flags.date));
    let threshold: number | undefined;
    if (flags['coverage-threshold'] !== undefined) {
      const raw = String(flags['coverage-threshold']);
      threshold = Number(raw);
      if (raw.trim() === '' || !(threshold >= 0 && threshold <= 1)) throw new BtcError('InvalidInput', `--coverage-threshold must be a number within 0..1, got ${JSON.stringify(raw)}`);
    }
    const runtime = await loadRuntime(flags);
    try {
      const report = await runQuality(runtime.context(), { date, threshold });
      printJson(report);
      if (flags['json-out']) writeFileSync(flags['json-out'] as string, JSON.stringify(report, null, 2) + '\n');
      return report.status === 'ok' ? 0 : 1;
    } finally {
      await runtime.shutdown();
    }
  },
};
