// test/helpers/ui-runtime.ts
// An in-process runtime with FsStore primary and cache in a temp dir, and its hono app with the UI mounted.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { afterEach } from 'vitest';
import type { Clock } from '../../runtime/clock.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import type { AnyFunction } from '../../runtime/define.ts';
import { createApp } from '../../runtime/http/app.ts';
import { mountUi } from '../../runtime/http/ui.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { loadFunctions } from '../../runtime/registry.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';

export interface UiRuntime {
  runtime: Runtime;
  app: Hono;
  primary: ObjectStore;
  cache: ObjectStore;
  dir: string;
  dispose(): Promise<void>;
}

export async function createUiRuntime(
  options: { host?: string; env?: Record<string, string>; extraFunctions?: AnyFunction[]; withoutFunctions?: string[]; /** The ToDo card's fallback file; null: the runtime's own handoff.handoverFile (default: a missing file in the temp dir). */ handoverFile?: string | null; clock?: Clock } = {},
): Promise<UiRuntime> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-ui-'));
  const primary = createFsStore({ root: path.join(dir, 'nas') });
  const cache = createFsStore({ root: path.join(dir, 'cache') });
  const loaded = loadConfig({
    env: { BTC_TS_HOST: options.host ?? 'alpha', BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), ...options.env },
  });
  const functions = await loadFunctions();
  for (const fn of options.extraFunctions ?? []) functions.set(fn.name, fn);
  for (const name of options.withoutFunctions ?? []) functions.delete(name);
  // The page is tested without its scheduler, so no schedule has to resolve.
  const runtime = await createRuntime(loaded, { log: silentLogger(), primary, cache, functions, schedules: [], clock: options.clock });
  const app = createApp(runtime, {
    extend: (a, rt, guard) => mountUi(a, rt, guard, { handoverFile: options.handoverFile === null ? undefined : (options.handoverFile ?? path.join(dir, 'no-handover.md')) }),
  });
  return {
    runtime,
    app,
    primary,
    cache,
    dir,
    async dispose() {
      await runtime.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `ui()` for one test file (call it at module level): every runtime it makes is disposed after the
 * test that made it, pass or fail. `defaults` are merged under each call's options.
 */
export function uiRuntimesPerTest(defaults: Parameters<typeof createUiRuntime>[0] = {}): (options?: Parameters<typeof createUiRuntime>[0]) => Promise<UiRuntime> {
  const open: UiRuntime[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((u) => u.dispose()));
  });
  return async (options = {}) => {
    const u = await createUiRuntime({ ...defaults, ...options });
    open.push(u);
    return u;
  };
}
