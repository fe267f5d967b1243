// runtime/cli/status.ts
// `runtime status`: the merged status of every host, read from the primary.

import { hostLiveness, readAllStatus } from '../status.ts';
import { age } from '../http/format.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, plain, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

export const statusCommand: Command = {
  ...listed('status'),
  parsesOnce: true,
  usage: 'runtime status [--json] [--config FILE]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the status objects as JSON' },
  async run(flags) {
    // Reads status objects only: no duty (ccxt, seconds to import) is loaded.
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true });
    const { hosts, errors } = await readAllStatus(runtime.store);
    const now = runtime.clock.now();
    // A row is the host's last word: without its age and state a stopped host reads as live.
    const rows = hosts.map((h) => ({ ...h, ...liveness(h, now) }));
    if (flags.json) {
      printJson({ hosts: rows, errors });
      return errors.length ? 1 : 0;
    }
    if (hosts.length === 0) console.log('no host has written a status yet');
    else
      printTable(
        ['host', 'state', 'mode', 'leader', 'primary', 'secondary', 'sync', 'streams ok', 'updated'],
        // Peers write these objects: every field is plain()ed before colour is added.
        rows.map((h) => [
          plain(String(h.host)),
          h.state === 'running' ? color.green('running') : h.state === 'stopped' ? color.yellow('stopped') : color.red('stale'),
          plain(String(h.mode)),
          h.leader.active ? color.green('this host') : plain(String(h.leader.host ?? '—')),
          h.storage.primary === 'up' ? color.green('up') : color.red('down'),
          plain(String(h.storage.secondary)),
          h.sync.pending ? color.yellow('pending') : 'idle',
          `${h.streams.filter((s) => s.ok).length}/${h.streams.length}`,
          `${plain(String(h.updated_at))} (${h.age_s === null ? 'unknown age' : age(h.age_s * 1000)})`,
        ]),
      );
    for (const e of errors) console.error(color.red(plain(`unreadable status ${e.key}: ${e.error}`)));
    return errors.length ? 1 : 0;
  },
};

/** `state` (running / stopped / stale) and `age_s` (seconds since updated_at, null when unparseable) of one host. */
function liveness(h: Parameters<typeof hostLiveness>[0], now: number): { state: 'running' | 'stopped' | 'stale'; age_s: number | null } {
  const { state, ageMs } = hostLiveness(h, now);
  return { state, age_s: ageMs === null ? null : Math.round(ageMs / 1000) };
}
