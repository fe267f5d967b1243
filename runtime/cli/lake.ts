// runtime/cli/lake.ts
// `runtime compact`, `runtime query`, `runtime export`, `runtime capacity`, `runtime incident make`: the data once collected, put to use.

import path from 'node:path';
import { BtcError } from '../errors.ts';
import type { Runtime } from '../context.ts';
import type { CompactRunReport } from '../lake/compact.ts';
import { capacityReport, type CapacityReport } from '../lake/capacity.ts';
import { makeScratch, openDuck, plainRows, removeScratch, type Duck } from '../lake/duck.ts';
import { makeIncident } from '../lake/incident.ts';
import { parseStreamName, TOPICS, type StreamRef } from '../lake/layout.ts';
import { discoverStreams, exportTable, loadWindow, parseTime, type ExportFormat, type LoadReport, type Window } from '../lake/read.ts';
import type { ObjectStore } from '../store/types.ts';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, invokeOnce, loadRuntime } from './load.ts';
import type { Command, Flags } from './main.ts';
import { color, plain, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

const streamsOf = (flags: Flags): StreamRef[] => ((flags.stream as string[] | undefined) ?? []).map(parseStreamName);

export const compactCommand: Command = dutyCommand({
  ...listed('compact'),
  duty: 'compact',
  // --date, --stream (the input's streams), --dry-run, --force, --no-retention come from the compact duty's zod input.
  flagNames: { streams: 'stream' },
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    const result = (await invokeOnce(flags, 'compact', input)) as Omit<CompactRunReport, 'days'> & { ok: boolean; skipped: string | null; days: CompactRunReport['days'] };
    if (result.skipped) console.error(color.yellow(`compaction skipped: ${result.skipped}`));
    for (const d of result.days) {
      const line = `${d.action.padEnd(13)} ${d.stream} ${d.date} (${d.reason}): ${d.rows} rows from ${d.records_in} records of ${d.sources} segments, ${d.dropped} duplicates dropped` +
        (d.parquet_bytes ? `, ${(d.raw_bytes / 1e6).toFixed(1)} MB → ${(d.parquet_bytes / 1e6).toFixed(2)} MB` : '');
      console.error(d.action === 'failed' ? color.red(plain(`${line}: ${d.error}`)) : line);
    }
    printJson(result);
    return result.ok ? 0 : 1;
  },
});

/** The primary when it answers, else the local cache (what the router would read). */
async function readableStore(runtime: Runtime): Promise<ObjectStore> {
  const probe = await runtime.store.probePrimary();
  if (probe.ok) return runtime.store.primary;
  console.error(color.yellow(`the primary is unreachable (${probe.cause ?? probe.error}); reading the local cache ${runtime.store.cache.describe}`));
  return runtime.store.cache;
}

function windowOf(flags: Flags, now: number, required: boolean): Window {
  if (required && (flags.from === undefined || flags.to === undefined)) throw new BtcError('InvalidInput', '--from and --to are required');
  const to = flags.to !== undefined ? parseTime(flags.to as string, '--to') : now;
  const from = flags.from !== undefined ? parseTime(flags.from as string, '--from') : to - 86_400_000;
  return { from, to };
}

/** Runs `work` with a DuckDB loaded with the window's tables; the scratch directory is removed afterwards. */
async function withWindow<T>(runtime: Runtime, window: Window, streams: StreamRef[], work: (duck: Duck, load: LoadReport, store: ObjectStore) => Promise<T>): Promise<T> {
  const store = await readableStore(runtime);
  const scratch = await makeScratch(path.join(runtime.paths.dataDir, 'scratch'), 'query');
  const duck = await openDuck({ scratchDir: scratch });
  try {
    const chosen = streams.length ? streams : await discoverStreams(store);
    const load = await loadWindow(duck, store, scratch, window, chosen);
    return await work(duck, load, store);
  } finally {
    duck.close();
    await removeScratch(scratch);
  }
}

export const queryCommand: Command = {
  ...listed('query'),
  usage: 'runtime query "<SQL>" [--from T] [--to T] [--stream S]… [--format table|csv|json] [--config FILE]',
  positionals: ['sql'],
  options: { ...configOption, from: { type: 'string' }, to: { type: 'string' }, stream: { type: 'string', multiple: true }, format: { type: 'string' } },
  optionHelp: {
    ...configHelp,
    from: 'window start: ms, YYYY-MM-DD (UTC) or ISO time (default: --to minus 24 h); only its partitions are fetched',
    to: 'window end, exclusive (default: now)',
    stream: 'load only this stream (repeatable; default: every stream in the bucket)',
    format: 'table (default), csv or json',
  },
  async run(flags, positionals) {
    const sql = positionals[0];
    if (!sql) throw new BtcError('InvalidInput', `give the SQL, e.g. runtime query "SELECT count(*) FROM trades" (tables: ${TOPICS.join(', ')})`);
    const format = (flags.format as string | undefined) ?? 'table';
    if (!['table', 'csv', 'json'].includes(format)) throw new BtcError('InvalidInput', `--format must be table, csv or json, got ${format}`);
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true });
    try {
      const window = windowOf(flags, runtime.clock.now(), false);
      await withWindow(runtime, window, streamsOf(flags), async (duck, load) => {
        console.error(color.dim(`window ${load.window.from} – ${load.window.to}: ${load.parquet_objects} Parquet object(s), ${load.raw_segments} raw segment(s), ${(load.bytes_fetched / 1e6).toFixed(1)} MB from ${load.store}`));
        const reader = await duck.conn.runAndReadAll(sql).catch((err: unknown) => {
          throw new BtcError('InvalidInput', `query failed: ${err instanceof Error ? err.message : String(err)}`);
        });
        const names = reader.columnNames();
        const rows = plainRows(reader);
        if (format === 'json') printJson(rows);
        else if (format === 'csv') process.stdout.write([names, ...rows.map((r) => names.map((n) => r[n]))].map((r) => r.map(csvCell).join(',')).join('\n') + '\n');
        else printTable(names, rows.map((r) => names.map((n) => plain(cellText(r[n])))));
      });
      return 0;
    } finally {
      await runtime.shutdown();
    }
  },
};

function cellText(v: unknown): string {
  return v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function csvCell(v: unknown): string {
  const text = cellText(v);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const exportCommand: Command = {
  ...listed('export'),
  usage: 'runtime export --stream EX/TOPIC/SYMBOL --from T --to T --format csv|parquet|jsonl --out F [--config FILE]',
  options: { ...configOption, stream: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
  optionHelp: { ...configHelp, stream: 'e.g. binance/trades/BTC-USDT', from: 'window start (ms, YYYY-MM-DD or ISO time)', to: 'window end, exclusive', format: 'csv, parquet or jsonl', out: 'local file to write' },
  async run(flags) {
    if (typeof flags.stream !== 'string') throw new BtcError('InvalidInput', '--stream is required (e.g. binance/trades/BTC-USDT)');
    const stream = parseStreamName(flags.stream);
    const format = flags.format as string | undefined;
    if (format !== 'csv' && format !== 'parquet' && format !== 'jsonl') throw new BtcError('InvalidInput', `--format must be csv, parquet or jsonl, got ${String(format)}`);
    if (typeof flags.out !== 'string') throw new BtcError('InvalidInput', '--out F is required');
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true });
    try {
      const window = windowOf(flags, runtime.clock.now(), true);
      const rows = await withWindow(runtime, window, [stream], (duck) => exportTable(duck, stream, format as ExportFormat, flags.out as string));
      printJson({ stream: flags.stream, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(), format, out: path.resolve(flags.out), rows });
      return 0;
    } finally {
      await runtime.shutdown();
    }
  },
};

export const capacityCommand: Command = {
  ...listed('capacity'),
  usage: 'runtime capacity [--json] [--config FILE]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'the whole report as JSON' },
  async run(flags) {
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true });
    try {
      const report = await capacityReport(runtime.store.primary, { now: runtime.clock.now(), capacityBytes: runtime.loaded.config.storage.capacityBytes });
      if (flags.json === true) printJson(report);
      else printCapacity(report);
      return 0;
    } finally {
      await runtime.shutdown();
    }
  },
};

function printCapacity(r: CapacityReport): void {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  printTable(['prefix', 'objects', 'bytes'], r.prefixes.map((p) => [p.prefix, String(p.objects), mb(p.bytes)]));
  console.log('');
  printTable(['stream', 'date', 'raw objects', 'raw', 'parquet', 'ratio'], r.stream_days.map((d) => [d.stream, d.date, String(d.raw_objects), mb(d.raw_bytes), d.parquet_bytes === null ? '' : mb(d.parquet_bytes), d.ratio === null ? '' : `${d.ratio.toFixed(1)}×`]));
  console.log('');
  console.log(`total ${mb(r.total_bytes)} in ${r.total_objects} objects; compression ${r.compression_ratio === null ? 'n/a' : `${r.compression_ratio.toFixed(1)}×`}; growth ${mb(r.growth_bytes_per_day)}/day`);
  console.log(r.capacity_bytes === null ? 'storage.capacityBytes not set: no forecast' : r.full_at === null ? `capacity ${mb(r.capacity_bytes)}: no growth, no forecast` : `capacity ${mb(r.capacity_bytes)}: full on ${r.full_at.slice(0, 10)} (in ${r.days_until_full!.toFixed(1)} days)`);
}

export const incidentMakeCommand: Command = {
  ...listed('incident make'),
  usage: 'runtime incident make <id> --from T --to T [--stream S]… [--config FILE]',
  positionals: ['id'],
  options: { ...configOption, from: { type: 'string' }, to: { type: 'string' }, stream: { type: 'string', multiple: true } },
  optionHelp: { ...configHelp, from: 'window start (ms, YYYY-MM-DD or ISO time)', to: 'window end, exclusive', stream: 'streams to export (repeatable; default: every stream with data in the window)' },
  async run(flags, positionals) {
    const id = positionals[0];
    if (!id) throw new BtcError('InvalidInput', 'give the incident id, e.g. runtime incident make 2026-11-20-flash-crash --from … --to …');
    const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true });
    try {
      const window = windowOf(flags, runtime.clock.now(), true);
      const result = await makeIncident({
        store: runtime.store.primary, scratchRoot: path.join(runtime.paths.dataDir, 'scratch'), id, window, streams: streamsOf(flags),
        host: runtime.host, actor: runtime.loaded.config.actor, now: runtime.clock.now(),
      });
      await runtime.audit.record('incident.make', { id, from: result.incident.from, to: result.incident.to, streams: result.incident.streams.map((s) => s.stream), objects: result.keys.length });
      printJson(result);
      return 0;
    } finally {
      await runtime.shutdown();
    }
  },
};
