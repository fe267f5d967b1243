// runtime/cli/whatif.ts
// `runtime whatif`: the preflight table; exit 0 only when every check passes.

import { shardCount, shardPlacement } from '../leader/shard-map.ts';
import { runPreflight } from '../preflight.ts';
import { exchangeLine } from './diag.ts';
import { configHelp, configOption, loadRuntimeForExchangeCheck } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

export const whatifCommand: Command = {
  ...listed('whatif'),
  usage: 'runtime whatif [--config FILE] [--json]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the results as JSON' },
  async run(flags) {
    const { runtime, exchange } = await loadRuntimeForExchangeCheck(flags);
    const results = await runPreflight(runtime);
    const ok = results.every((r) => r.ok);
    // collector.shards > 1: shard → preferred host and the holder its lease names now (docs/leader.md "Preferred placement").
    const config = runtime.loaded.config;
    const placement = shardCount(config) > 1 ? await shardPlacement(config, runtime.store.primary) : null;
    if (flags.json) printJson({ ok, exchange_url: exchange.url, exchange_source: exchange.source, checks: results, ...(placement ? { shards: placement.map((p) => ({ ...p, error: p.error && runtime.masker.text(p.error) })) } : {}) });
    else {
      console.log(exchangeLine(exchange));
      printTable(
        ['check', 'result', 'detail'],
        results.map((r) => [r.check, r.ok ? (r.skipped ? color.yellow('SKIP') : r.warn ? color.yellow('WARN') : color.green('PASS')) : color.red('FAIL'), r.detail]),
      );
      if (placement) {
        console.log('');
        printTable(
          ['shard', 'preferred host', 'holder now', 'streams'],
          placement.map((p) => [
            String(p.shard),
            p.preferred ?? '-',
            p.error ? color.red(`unreadable: ${runtime.masker.text(p.error).slice(0, 80)}`) : p.holder ? `${p.holder} (epoch ${p.epoch})` : p.released ? `released (epoch ${p.epoch})` : 'nobody',
            p.streams.length ? p.streams.join(', ') : 'no streams',
          ]),
        );
      }
      console.log(ok ? color.green('\nall checks passed') : color.red(`\n${results.filter((r) => !r.ok).length} check(s) failed`));
    }
    return ok ? 0 : 1;
  },
};
