// runtime/cli/commands.ts
// The command table, by first word: a command's module (and what it imports) is loaded only when that command runs; `runtime --help` loads none.

import type { Command } from './main.ts';

/** In the order `runtime --help` lists them. */
const groups: Record<string, () => Promise<Command[]>> = {
  start: async () => [(await import('./start.ts')).startCommand],
  invoke: async () => [(await import('./invoke.ts')).invokeCommand],
  whatif: async () => [(await import('./whatif.ts')).whatifCommand],
  status: async () => [(await import('./status.ts')).statusCommand],
  sync: async () => [(await import('./sync.ts')).syncCommand],
  health: async () => [(await import('./health.ts')).healthCommand],
  config: async () => [(await import('./config-diff.ts')).configDiffCommand],
  handoff: async () => {
    const m = await import('./handoff.ts');
    return [m.handoffMakeCommand, m.handoffLoadCommand];
  },
  rp: async () => {
    const m = await import('./rp.ts');
    return [m.rpMakeCommand, m.rpListCommand, m.rpRestoreCommand];
  },
  state: async () => (await import('./state.ts')).stateCommands,
  dashboard: async () => {
    const m = await import('./dashboard.ts');
    return [m.dashboardExportCommand, m.dashboardVerifyCommand];
  },
  quality: async () => [(await import('./quality.ts')).qualityCommand],
  alerts: async () => {
    const m = await import('./alerts.ts');
    return [m.alertsListCommand, m.alertsTestCommand];
  },
  compact: async () => [(await import('./lake.ts')).compactCommand],
  query: async () => [(await import('./lake.ts')).queryCommand],
  export: async () => [(await import('./lake.ts')).exportCommand],
  capacity: async () => [(await import('./lake.ts')).capacityCommand],
  incident: async () => [(await import('./lake.ts')).incidentMakeCommand],
  diag: async () => [(await import('./diag.ts')).diagApiCommand],
  emulator: async () => [(await import('./emulator.ts')).emulatorCommand],
};

/** The commands whose name starts with `word` (none for an unknown word). */
export async function commandsStartingWith(word: string): Promise<Command[]> {
  return Object.hasOwn(groups, word) ? groups[word]!() : [];
}

/** Every command (loads every module, seconds with ccxt and the AWS SDK: the test that checks COMMAND_SUMMARIES against the modules). */
export async function allCommands(): Promise<Command[]> {
  return (await Promise.all(Object.values(groups).map((load) => load()))).flat();
}

/**
 * `runtime --help`'s list, in the order of `groups`: each command's name and summary, written out
 * here so the full help loads no command module (loading them all took seconds: ccxt, the AWS SDK,
 * hono). test/cli-build.test.ts checks it equals the modules' own `name` and `summary`, entry by entry.
 */
export const COMMAND_SUMMARIES: ReadonlyArray<Pick<Command, 'name' | 'summary'>> = [
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
