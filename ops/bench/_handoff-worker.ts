// ops/bench/_handoff-worker.ts
// One measured handoff in a fresh process (so peak RSS is the bundle's alone): prints { ms, cpuMs, bytes, files, maxRssKb }.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HandoffResult } from '../../runtime/handoff/result.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';

const repoDir = process.argv[2];
if (!repoDir) throw new Error('usage: handoff-worker.ts <repoDir>');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-handoff-'));
try {
  // A secret in the environment makes the final secret scan run, as it does in production.
  const env = { BTC_TS_API_TOKEN: 'bench-token-0c4e9a1f-5d2b7e8a-9f3c6b1d', BTC_TS_REPO_DIR: repoDir, BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'bench' };
  const runtime = await createRuntime(loadConfig({ env }), { log: silentLogger() });
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const result = (await runtime.invoker.invoke('handoff', {}, 'cli')) as HandoffResult;
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await runtime.shutdown();
  process.stdout.write(
    JSON.stringify({ ms: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000), bytes: result.json.bytes, files: result.json.files.length, maxRssKb: process.resourceUsage().maxRSS }) + '\n',
  );
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
