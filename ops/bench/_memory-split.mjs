// ops/bench/_memory-split.mjs
// Loaded with `node --import` into a benchmarked process (sync.ts --memory-split): samples process.memoryUsage() and V8's heap spaces every 50 ms and writes the samples at exit to $BENCH_MEMORY_SPLIT_OUT.

import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const out = process.env.BENCH_MEMORY_SPLIT_OUT;
const samples = [];
const MB = 1024 * 1024;
const take = () => {
  const m = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
  samples.push({ rss: m.rss / MB, heap_total: m.heapTotal / MB, heap_used: m.heapUsed / MB, external: m.external / MB, array_buffers: m.arrayBuffers / MB, new_space: (spaces.new_space ?? 0) / MB, old_space: (spaces.old_space ?? 0) / MB });
};
if (out) {
  setInterval(take, 50).unref();
  process.on('exit', () => {
    take();
    writeFileSync(out, JSON.stringify(samples));
  });
}
