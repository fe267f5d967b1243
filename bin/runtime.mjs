#!/usr/bin/env node
// bin/runtime.mjs
// The `runtime` command: runs the compiled CLI from dist/ when it matches the sources, else the TypeScript sources through tsx.

import module from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { distState } from './dist-stamp.mjs';

// Node 22.1+ keeps the compiled code of the modules it loads in an on-disk cache (in the OS temp
// directory) and reuses it on the next start; Node 20 has no such cache and goes on without it.
module.enableCompileCache?.();

// The AWS SDK warns on every start under Node 20 that *future* SDK versions will need Node 22;
// the version in package-lock.json supports Node 20, so the notice is noise here (set it to false to see it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// dist/ is built by `npm install` ("prepare") and `npm run build` (bin/build.mjs). It is used only
// when built from exactly the sources on disk (a fingerprint of their paths, sizes and mtimes, a few
// ms): a developer who edits a .ts file and runs the command never runs stale code, it silently
// runs through tsx instead. BTC_TS_NO_DIST=1 forces tsx (to compare, or to debug the loader).
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const useDist = process.env.BTC_TS_NO_DIST !== '1' && distState(ROOT).fresh;
let code;
if (useDist) {
  // Stack traces name the .ts lines through the build's source maps (tsx does the same for its own output),
  // each map read when a stack through its file is first formatted, not every map at load (bin/source-maps.mjs).
  const { mapStacksLazily } = await import('./source-maps.mjs');
  mapStacksLazily(path.join(ROOT, 'dist'));
  code = { heap: '../dist/runtime/heap.js', main: '../dist/runtime/cli/main.js' };
} else {
  const { register } = await import('tsx/esm/api');
  register();
  code = { heap: '../runtime/heap.ts', main: '../runtime/cli/main.ts' };
}
// V8 heap growth for a busy collector (runtime/heap.ts; BTC_TS_HEAP_GROWING_PERCENT), before anything big is allocated.
try {
  const { applyHeapSettings } = await import(code.heap);
  applyHeapSettings();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
const { main } = await import(code.main);
process.exitCode = await main(process.argv.slice(2));
