// runtime/preflight.ts
// The restart playbook's preflight (`runtime whatif`): every check a runtime needs before it collects.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Runtime } from './context.ts';
import { nodeMajor } from './context.ts';
import { isBtcError } from './errors.ts';

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
}

export const MIN_NODE_MAJOR = 20;

export async function runPreflight(runtime: Runtime): Promise<CheckResult[]> {
  const { loaded, paths, store } = runtime;
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      results.push({ check: name, ok: true, detail: await fn() });
    } catch (err) {
      results.push({ check: name, ok: false, detail: runtime.masker.text(err instanceof Error ? err.message : String(err)) });
    }
  };

  await check('config', async () => `valid (${loaded.file ?? 'defaults only'})`);
  await check('node version', async () => {
    if (nodeMajor() < MIN_NODE_MAJOR) throw new Error(`node ${process.versions.node} < ${MIN_NODE_MAJOR}`);
    return `node ${process.versions.node}`;
  });
  await check('data dir writable', () => writable(paths.dataDir));
  await check('logs dir writable', () => writable(paths.logsDir));
  await check('primary reachable', async () => {
    const probe = await store.probePrimary(runtime.clock.now());
    if (!probe.ok) throw new Error(`${store.primary.describe}: ${probe.error}`);
    return `${store.primary.describe} in ${probe.latencyMs} ms`;
  });
  await check('bucket present', async () => {
    try {
      await store.primary.listPage('collector/', { limit: 1 });
    } catch (err) {
      if (isBtcError(err, 'Unavailable') && /bucket missing/.test(err.message)) {
        throw new Error(`bucket ${loaded.config.storage.s3.bucket} does not exist (run infra/minio/bootstrap.ts)`);
      }
      throw err;
    }
    return store.primary.describe;
  });
  // Imported here: ccxt is heavy and most commands that load this file never check streams.
  await check('collector streams', async () => (await import('./collector/plan.ts')).streamsPreflight(runtime));
  await check('schedules resolvable', async () => `${runtime.schedules.length} schedules → ${[...new Set(runtime.schedules.map((s) => s.fn))].join(', ')}`);
  return results;
}

async function writable(dir: string): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  await fsp.writeFile(probe, 'ok');
  await fsp.rm(probe, { force: true });
  return dir;
}
