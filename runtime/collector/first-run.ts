// runtime/collector/first-run.ts
// What a runtime with no stream configured says (start log, whatif, page): it collects nothing, and the two ways on.

/** A `collector.streams` entry for a real exchange, as the first-run messages show it (YAML flow style). */
export const STREAMS_EXAMPLE = '{ exchange: binance, topic: trades, symbols: [BTC/USDT] }';

/**
 * What the start log line, `whatif` and the page say when collector.streams is empty: the runtime
 * goes PROD, takes the lease and collects nothing, so they name the two ways on.
 */
export const NO_STREAMS_MESSAGE =
  'no stream is configured: this runtime collects nothing. Two ways on: `npm start -- --demo` (a bundled exchange emulator, offline), ' +
  `or add streams under collector.streams in config/app.yaml, e.g. \`collector: { streams: [ ${STREAMS_EXAMPLE} ] }\` (docs/collector.md)`;
