// test/helpers/runtime-inproc.ts
// Builds an in-process runtime on temp directories for unit tests (no server, silent logs).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import type { CreateRuntimeOptions } from '../../runtime/runtime-parts.ts';
import { silentLogger } from '../../runtime/logger.ts';

export interface TestRuntime extends Runtime {
  dir: string;
  dispose(): Promise<void>;
}

export async function testRuntime(env: Record<string, string> = {}, options: CreateRuntimeOptions = {}): Promise<TestRuntime> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-unit-'));
  const loaded = loadConfig({
    file: path.resolve('config/app.yaml'),
    env: { BTC_TS_HOST: 'unit', BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), ...env },
  });
  const runtime = await createRuntime(loaded, { log: silentLogger(), ...options });
  return Object.assign(runtime, {
    dir,
    async dispose() {
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
