// test/ccxt-loader.test.ts
// runtime/collector/ccxt.ts loads one exchange's module at a time from ccxt's CommonJS build, and gives the very classes `require('ccxt')` gives.

import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import ccxt from '../runtime/collector/ccxt.ts';

const require = createRequire(import.meta.url);
const loadedExchangeFiles = () =>
  Object.keys(require.cache)
    .filter((f) => f.includes(`${path.sep}ccxt${path.sep}dist${path.sep}cjs${path.sep}src${path.sep}`) && !f.includes(`${path.sep}base${path.sep}`) && !f.includes('static_dependencies'))
    .map((f) => f.slice(f.indexOf(`${path.sep}src${path.sep}`) + 5));

describe('ccxt, one exchange at a time', () => {
  // First in this file (vitest runs each file in a fresh process): nothing has loaded all of ccxt yet.
  it('loads only the exchange asked for, REST and WebSocket', () => {
    expect(ccxt.lazy).toBe(true);
    expect(loadedExchangeFiles()).toEqual([]);
    const Binance = ccxt.exchangeClass('binance')!;
    const BinancePro = ccxt.proExchangeClass('binance')!;
    expect(new Binance({}).id).toBe('binance');
    expect(typeof new BinancePro({}).watchTrades).toBe('function');
    const loaded = loadedExchangeFiles();
    // binance's modules and the few it extends or shares (abstract API tables); never another exchange's.
    expect(loaded.some((f) => /kraken|okx|bybit|coinbase/.test(f))).toBe(false);
    expect(loaded.length).toBeLessThan(10);
    expect(ccxt.exchangeClass('no-such-exchange')).toBeUndefined();
    expect(ccxt.proExchangeClass('bit2c')).toBeUndefined(); // REST only in ccxt
    expect(ccxt.exchangeClass('bit2c')).toBeTypeOf('function');
  });

  it('gives the same classes, ids, errors and version as require("ccxt")', () => {
    const whole = require('ccxt') as Record<string, unknown> & { exchanges: string[]; pro: Record<string, unknown> & { exchanges: string[] }; version: string };
    expect(ccxt.version).toBe(whole.version);
    expect([...ccxt.exchanges].sort()).toEqual([...whole.exchanges].sort());
    for (const id of whole.exchanges) expect(ccxt.exchangeClass(id), id).toBe(whole[id]);
    expect(whole.pro.exchanges.length).toBeGreaterThan(20);
    for (const id of whole.pro.exchanges) expect(ccxt.proExchangeClass(id), `pro ${id}`).toBe(whole.pro[id]);
    for (const name of ['BaseError', 'NetworkError', 'RateLimitExceeded', 'DDoSProtection', 'BadResponse', 'BadSymbol', 'OnMaintenance', 'ExchangeNotAvailable'] as const) {
      expect(ccxt[name], name).toBe(whole[name]);
    }
    // An error thrown by a lazily loaded exchange is an instance of the classes the runtime checks against.
    expect(new ccxt.RateLimitExceeded('x')).toBeInstanceOf(whole['NetworkError'] as new () => Error);
  });
});
