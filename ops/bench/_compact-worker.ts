// ops/bench/_compact-worker.ts
// Child process of the compact bench: compacts one day of an FsStore (or only reads its JSONL, the floor) and reports time and peak RSS.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compactAll } from '../../runtime/lake/compact.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { listAll } from '../../runtime/store/types.ts';
import { RAW_PREFIX } from '../../runtime/keys.ts';

const [root, mode, date] = process.argv.slice(2) as [string, 'read' | 'parse' | 'compact', string];
const store = createFsStore({ root });
const started = performance.now();
const out: Record<string, unknown> = { mode };
if (mode === 'compact') {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-compact-'));
  try {
    const report = await compactAll({ store, scratchDir: scratch, now: () => Date.now(), graceMs: 0, dates: [date], threads: Number(process.env.BENCH_THREADS ?? 2), memoryLimit: process.env.BENCH_MEMORY_LIMIT });
    out.failed = report.failed;
    out.errors = report.days.filter((d) => d.error).map((d) => d.error);
    out.rows = report.days.reduce((n, d) => n + d.rows, 0);
    out.records_in = report.days.reduce((n, d) => n + d.records_in, 0);
    out.parquet_bytes = report.days.reduce((n, d) => n + (d.parquet_bytes ?? 0), 0);
    out.raw_bytes = report.days.reduce((n, d) => n + d.raw_bytes, 0);
    out.days = report.days.map((d) => ({ stream: d.stream, rows: d.rows, raw_bytes: d.raw_bytes, parquet_bytes: d.parquet_bytes, elapsed_ms: d.elapsed_ms, phases: d.phases }));
    const phases: Record<string, number> = {};
    for (const d of report.days) {
      const { cpu_ms: cpu, ...wall } = d.phases ?? { cpu_ms: {} };
      for (const [k, v] of Object.entries(wall)) phases[k] = (phases[k] ?? 0) + v;
      for (const [k, v] of Object.entries(cpu)) phases[`cpu_${k}_ms`] = (phases[`cpu_${k}_ms`] ?? 0) + v;
    }
    out.phases = phases;
    out.plan_ms = report.plan_ms;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
} else {
  // The floor: what any reader of the raw data pays — list, GET every segment, and (parse) JSON.parse every line.
  let bytes = 0;
  let records = 0;
  const keys: string[] = [];
  for await (const o of listAll(store, RAW_PREFIX, 1000, { etags: false })) keys.push(o.key);
  for (let i = 0; i < keys.length; i += 16) {
    for (const got of await Promise.all(keys.slice(i, i + 16).map((k) => store.get(k)))) {
      bytes += got.body.length;
      if (mode === 'parse') for (const line of got.body.toString('utf8').split('\n')) if (line) (JSON.parse(line), records++);
    }
  }
  out.bytes = bytes;
  out.records = records;
  out.objects = keys.length;
}
out.elapsed_ms = Math.round(performance.now() - started);
// CPU time of the whole process (all DuckDB threads included): what the work costs whatever the load.
const cpu = process.cpuUsage();
out.cpu_ms = Math.round((cpu.user + cpu.system) / 1000);
out.peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(JSON.stringify(out) + '\n');
