// runtime/cli/status.ts
// `runtime status`: the merged status of every host, read from the primary.

import { readAllStatus } from '../status.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command } from './main.ts';
import { color, plain, printJson, printTable } from './output.ts';

export const statusCommand: Command = {
  name: 'status',
  summary: 'merged status of all hosts from the primary',
  usage: 'runtime status [--json] [--config F]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the status objects as JSON' },
  async run(flags) {
    const runtime = await loadRuntime(flags);
    const { hosts, errors } = await readAllStatus(runtime.store);
    if (flags.json) {
      printJson({ hosts, errors });
      return errors.length ? 1 : 0;
    }
    if (hosts.length === 0) console.log('no host has written a status yet');
    else
      printTable(
        ['host', 'mode', 'leader', 'primary', 'secondary', 'sync', 'streams ok', 'updated'],
        // Peers write these objects: every field is plain()ed before colour is added.
        hosts.map((h) => [
          plain(String(h.host)),
          plain(String(h.mode)),
          h.leader.active ? color.green('this host') : plain(String(h.leader.host ?? '—')),
          h.storage.primary === 'up' ? color.green('up') : color.red('down'),
          plain(String(h.storage.secondary)),
          h.sync.pending ? color.yellow('pending') : 'idle',
          `${h.streams.filter((s) => s.ok).length}/${h.streams.length}`,
          plain(String(h.updated_at)),
        ]),
      );
    for (const e of errors) console.error(color.red(plain(`unreadable status ${e.key}: ${e.error}`)));
    return errors.length ? 1 : 0;
  },
};
