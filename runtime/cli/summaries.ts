// runtime/cli/summaries.ts
// Each command's one-line summary, the one place it is written: `runtime --help` lists this table without loading a command module, and each module takes its name and summary from it.

import { BtcError } from '../errors.ts';

/** A command's name (the words after `runtime`) and its one-line summary. */
export interface CommandListing {
  name: string;
  summary: string;
}

/**
 * `runtime --help`'s list, in the order of the groups in runtime/cli/commands.ts. Loading every
 * command module took seconds (ccxt, the AWS SDK, hono), so the list lives here, apart from them;
 * test/cli-build.test.ts checks each module's command is listed here, in order.
 */
export const COMMAND_SUMMARIES: ReadonlyArray<CommandListing> = [
  { name: 'start', summary: 'HTTP server + scheduler on this PC' },
  { name: 'invoke', summary: 'run one function once, print its JSON result' },
  { name: 'whatif', summary: 'preflight: config, paths, permissions, primary, bucket, node, schedules' },
  { name: 'status', summary: 'merged status of all hosts from the primary' },
  { name: 'sync', summary: 'sync the local cache to the primary now (gap-checked), summary JSON at the end' },
  { name: 'health', summary: 'per stream: latest vs raw consistency, last record age, gap inventory (display only)' },
  { name: 'config diff', summary: 'defaults vs file vs env vs secrets (masked)' },
  { name: 'handoff make', summary: 'make a handoff bundle, store it under handoff/ (and --out a local copy)' },
  { name: 'handoff load', summary: 'validate a bundle and print where to continue' },
  { name: 'rp make', summary: 'cut a restore point: annotated tag rp/<YYYYMMDD-HHMM>-<label>' },
  { name: 'rp list', summary: 'list restore points, oldest first' },
  { name: 'rp restore', summary: 'check a restore point out on a new branch restore/<tag> (refuses a dirty tree)' },
  { name: 'state update', summary: 'seed 003 state update: re-estimate, guard, decide applied|preview|blocked' },
  { name: 'state override', summary: 'enable / disable automatic state adjustment, or show the flag' },
  { name: 'state prune', summary: 'keep the newest N archived state diffs per strategy/symbol/mode' },
  { name: 'dashboard export', summary: 'export the dashboard datasets, manifest, heartbeat and history' },
  { name: 'dashboard verify', summary: 'nightly check: automation log, heartbeat age, dataset checksums, secrets' },
  { name: 'quality', summary: 'data quality of a UTC day: coverage_ratio per stream, gap inventory (quality/dt=<date>/)' },
  { name: 'alerts', summary: 'open alert incidents of every host (this host from its local file, the others from their status)' },
  { name: 'alerts test', summary: 'send a test message to every configured webhook (SIGNAL_WEBHOOK_URLS); exit 1 when one fails' },
  { name: 'compact', summary: 'raw segments of closed days → one verified Parquet object per stream-day, then raw retention' },
  { name: 'query', summary: 'SQL over tables trades, orderbook, ticker, ohlcv (Parquet + raw not yet compacted) in a time window' },
  { name: 'export', summary: 'one stream\'s window, de-duplicated, in exchange-time order, to a local csv, parquet or jsonl file' },
  { name: 'capacity', summary: 'bytes and objects per prefix and stream-day, compression ratio, growth per day, the day the NAS is full' },
  { name: 'incident make', summary: 'an incident folder in the bucket: incident.json, replay_params.json, replay_notes.md and the exported window (seed 003)' },
  { name: 'diag api', summary: 'reachability and latency of each exchange and the primary (IPv4 first)' },
  { name: 'emulator', summary: 'the local exchange emulator (Binance, Kraken and OKX public REST formats, fault switches at /admin/faults)' },
];


/**
 * `{ name, summary }` of the command `name`, spread into its definition (`...listed('sync')`).
 * @throws BtcError Internal for a name this table does not list (a programming error).
 */
export function listed(name: string): CommandListing {
  const entry = COMMAND_SUMMARIES.find((c) => c.name === name);
  if (!entry) throw new BtcError('Internal', `runtime/cli/summaries.ts lists no command "${name}"`);
  return { ...entry };
}
