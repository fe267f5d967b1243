// ops/bench/append.ts
// The write-ahead log's append alone: whole-or-nothing appendDurable against a single unchecked write + fsync, interleaved in one run.

import { mkdtempSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SegmentLog } from '../../runtime/segments.ts';

type Trade = { ts: number; data: { id: string; price: number; amount: number; cost: number; side: string } };

/**
 * The append the log had before issue 14: one write whose byte count is not checked, then fsync.
 * Kept here only as the baseline the durable append is measured against.
 */
async function uncheckedAppend(file: string, text: Buffer): Promise<void> {
  const handle = await fsp.open(file, 'a');
  try {
    await handle.write(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function batch(n: number, from: number): Trade[] {
  return Array.from({ length: n }, (_, i) => ({
    ts: 1_764_000_000_000 + from + i,
    data: { id: String(from + i), price: 91_000 + ((from + i) % 100), amount: 0.001 * ((from + i) % 7 + 1), cost: 91, side: (from + i) % 2 ? 'buy' : 'sell' },
  }));
}

/** args: [seconds per side per round = 3] [rounds = 4] [records per append = 1000] */
export default async function appendBench(args: string[]) {
  const seconds = Number(args[0] ?? 3);
  const rounds = Number(args[1] ?? 4);
  const perAppend = Number(args[2] ?? 1000);
  const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-append-'));
  const totals = { durable: { records: 0, ms: 0 }, unchecked: { records: 0, ms: 0 } };
  try {
    for (let round = 0; round < rounds; round++) {
      // Alternate which side goes first, so neither always gets the warmer machine.
      const order: Array<keyof typeof totals> = round % 2 === 0 ? ['durable', 'unchecked'] : ['unchecked', 'durable'];
      for (const side of order) {
        const dir = path.join(root, `${side}-${round}`);
        const log = new SegmentLog<Trade>({ dir, keyFor: (_f, s) => `b/${s}.jsonl` });
        await log.open();
        const file = path.join(dir, 'open-unchecked.jsonl');
        let n = 0;
        const started = performance.now();
        while (performance.now() - started < seconds * 1000) {
          const records = batch(perAppend, n);
          if (side === 'durable') await log.append(records);
          else {
            const stamped = records.map((r, i) => ({ ...r, seq: n + i }));
            await uncheckedAppend(file, Buffer.from(stamped.map((r) => JSON.stringify(r)).join('\n') + '\n'));
          }
          n += perAppend;
        }
        totals[side].records += n;
        totals[side].ms += performance.now() - started;
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const rate = (t: { records: number; ms: number }) => Math.round(t.records / (t.ms / 1000));
  const durable = rate(totals.durable);
  const unchecked = rate(totals.unchecked);
  return {
    records_per_append: perAppend,
    rounds,
    seconds_per_side_per_round: seconds,
    durable_records_per_s: durable,
    unchecked_records_per_s: unchecked,
    durable_cost_pct: Math.round(((unchecked - durable) / unchecked) * 1000) / 10,
    note: 'SegmentLog.append (appendDurable: short writes continued, cut back on error, seq given back) vs one unchecked write + fsync, interleaved in one process on the same disk',
  };
}
