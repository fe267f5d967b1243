// runtime/collector/ccxt.ts
// The one place ccxt is loaded: its CommonJS build, one exchange's module at a time, so the runtime pays only for the exchanges it collects from.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as CcxtModule from 'ccxt';
import type { Exchange } from 'ccxt';

type Ccxt = typeof CcxtModule.default;
type ExchangeClass = new (config: object) => Exchange;
type ErrorClasses = Pick<
  Ccxt,
  'BaseError' | 'BadResponse' | 'BadSymbol' | 'DDoSProtection' | 'ExchangeNotAvailable' | 'NetworkError' | 'OnMaintenance' | 'RateLimitExceeded' | 'RequestTimeout' | 'ExchangeError'
>;

const require = createRequire(import.meta.url);

/**
 * Where ccxt's CommonJS build keeps each exchange: its index `dist/cjs/ccxt.js` requires every
 * module (`var binance = require('./src/binance.js')`, `var binance$1 = require('./src/pro/binance.js')`)
 * and lists them (`const exchanges = { 'binance': binance["default"], … }`, `const pro = { … }`).
 * Requiring that index loads all ~110 exchanges: ~72 MB of RSS and ~0.6 s on this project's 2-core
 * machine, against ~31 MB and ~0.16 s for Binance's REST and WebSocket classes alone (measured with
 * `node -e`, ccxt 4.5.84). The index is read as text here and each exchange's module is required by
 * its file when first asked for. Identity holds: Node caches a module by its file, so a class (and
 * every error class, from `src/base/errors.js`) is the same object ccxt's own index would give.
 * Returns null when the build does not look as expected (another ccxt layout): callers then load
 * the whole index.
 */
function readIndex(): { dir: string; rest: Map<string, string>; pro: Map<string, string>; version: string } | null {
  try {
    const dir = path.join(path.dirname(require.resolve('ccxt')), 'cjs');
    const text = readFileSync(path.join(dir, 'ccxt.js'), 'utf8');
    const files = new Map<string, string>();
    for (const m of text.matchAll(/^var ([\w$]+) = require\('\.\/(src\/[\w/.-]+\.js)'\);$/gm)) files.set(m[1]!, m[2]!);
    const block = (name: string): Map<string, string> => {
      const body = new RegExp(`^const ${name} = \\{\\n([\\s\\S]*?)\\n\\};$`, 'm').exec(text)?.[1] ?? '';
      const ids = new Map<string, string>();
      for (const m of body.matchAll(/^\s*'([\w]+)': ([\w$]+)\["default"\],?$/gm)) {
        const file = files.get(m[2]!);
        if (file) ids.set(m[1]!, file);
      }
      return ids;
    };
    const rest = block('exchanges');
    const pro = block('pro');
    const version = /^const version = '([^']+)';$/m.exec(text)?.[1];
    if (rest.size < 50 || pro.size < 20 || !rest.has('binance') || !pro.has('binance') || !version) return null;
    return { dir, rest, pro, version };
  } catch {
    return null;
  }
}

const index = readIndex();
let whole: Ccxt | null = null;
/** All of ccxt, as `require('ccxt')` gives it (the fallback, and `ccxt.exchanges` on another layout). */
const wholeCcxt = (): Ccxt => (whole ??= require('ccxt') as Ccxt);

function loadInit(): void {
  // The rollup helpers every module of the build expects to be initialised first (the index requires them first too).
  require(path.join(index!.dir, '_virtual/_commonjsHelpers.js'));
  require(path.join(index!.dir, '_virtual/index.cjs.js'));
}

function fromFile<T>(file: string): T {
  loadInit();
  return (require(path.join(index!.dir, file)) as { default: T }).default;
}

const errorClasses: ErrorClasses = index ? (loadInit(), require(path.join(index.dir, 'src/base/errors.js')) as ErrorClasses) : wholeCcxt();

/**
 * ccxt as the runtime uses it: the error classes (ccxt's own, for `instanceof` and `throw new`),
 * every exchange id, and an exchange's REST or WebSocket (ccxt pro) class by id, loaded on first use.
 */
const ccxt = {
  ...errorClasses,
  /** ccxt's version (e.g. `4.5.84`). */
  version: index?.version ?? wholeCcxt().version,
  /** Every exchange id ccxt has a REST class for, without loading them. */
  exchanges: index ? [...index.rest.keys()] : (wholeCcxt().exchanges as string[]),
  /** The REST class of exchange `id`, or undefined for an id ccxt does not know. */
  exchangeClass(id: string): ExchangeClass | undefined {
    if (!index) return (wholeCcxt() as unknown as Record<string, ExchangeClass | undefined>)[id];
    const file = index.rest.get(id);
    return file ? fromFile<ExchangeClass>(file) : undefined;
  },
  /** The WebSocket (ccxt pro) class of exchange `id`, or undefined when ccxt has none. */
  proExchangeClass(id: string): ExchangeClass | undefined {
    if (!index) return (wholeCcxt() as unknown as { pro: Record<string, ExchangeClass | undefined> }).pro[id];
    const file = index.pro.get(id);
    return file ? fromFile<ExchangeClass>(file) : undefined;
  },
  /** Whether the per-exchange loading is in use (false: the whole index was loaded, another ccxt layout). */
  lazy: index !== null,
};

export default ccxt;
