// runtime/collector/ccxt.ts
// The one place ccxt is loaded: its CommonJS build through require, which costs the runtime ~120 MB less RSS than its ES modules under tsx.

import { createRequire } from 'node:module';
import type * as CcxtModule from 'ccxt';

/**
 * ccxt 4.5 (REST classes, `pro` WebSocket classes, error classes, `exchanges`), the same API as
 * `import ccxt from 'ccxt'`. Loaded with require (ccxt's `exports.require` → dist/ccxt.cjs, one
 * bundled file) instead of its ~300 ES modules: under tsx (bin/runtime.mjs) every ES module goes
 * through tsx's loader hooks, and ccxt's modules that way cost about 170 MB of RSS, the CommonJS
 * bundle about 50 MB (Node 20, measured in docs/collector.md "Memory"). Every runtime module takes
 * ccxt values from here, so there is one copy of its classes and `instanceof` holds; type-only
 * imports from 'ccxt' are erased and cost nothing.
 */
const ccxt = createRequire(import.meta.url)('ccxt') as typeof CcxtModule.default;

export default ccxt;
