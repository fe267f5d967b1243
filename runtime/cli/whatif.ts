// runtime/cli/whatif.ts
// `runtime whatif`: the preflight table; exit 0 only when every check passes.

import { runPreflight } from '../preflight.ts';
import { exchangeLine } from './diag.ts';
import { configHelp, configOption, loadRuntimeForExchangeCheck } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';

export const whatifCommand: Command = {
  name: 'whatif',
  summary: 'preflight: config, paths, permissions, primary, bucket, node, schedules',
  usage: 'runtime whatif [--config F] [--json]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the results as JSON' },
  async run(flags) {
    const { runtime, exchange } = await loadRuntimeForExchangeCheck(flags);
    const results = await runPreflight(runtime);
    const ok = results.every((r) => r.ok);
    if (flags.json) printJson({ ok, exchange_url: exchange.url, exchange_source: exchange.source, checks: results });
    else {
      console.log(exchangeLine(exchange));
      printTable(
        ['check', 'result', 'detail'],
        results.map((r) => [r.check, r.ok ? (r.skipped ? color.yellow('SKIP') : r.warn ? color.yellow('WARN') : color.green('PASS')) : color.red('FAIL'), r.detail]),
      );
      console.log(ok ? color.green('\nall checks passed') : color.red(`\n${results.filter((r) => !r.ok).length} check(s) failed`));
    }
    return ok ? 0 : 1;
  },
};
