#!/usr/bin/env node
// bin/runtime.mjs
// The `runtime` command: loads the TypeScript CLI through tsx so no build step is needed.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on every start under Node 20 that *future* SDK versions will need Node 22;
// the version in package-lock.json supports Node 20, so the notice is noise here (set it to false to see it).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
// V8 heap growth for a busy collector (runtime/heap.ts; BTC_TS_HEAP_GROWING_PERCENT), before anything big is allocated.
try {
  const { applyHeapSettings } = await import('../runtime/heap.ts');
  applyHeapSettings();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(2);
}
const { main } = await import('../runtime/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
