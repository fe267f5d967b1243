// runtime/cli/emulator.ts
// `runtime emulator [--port P]`: the local exchange emulator (Binance, Kraken, OKX dialects) on its own (demo, tests, benchmarks).

import { DEFAULT_EMULATOR_PORT, startEmulator } from '../emulator/server.ts';
import { BtcError } from '../errors.ts';
import type { Command } from './main.ts';
import { listed } from './summaries.ts';

export const emulatorCommand: Command = {
  ...listed('emulator'),
  usage: 'runtime emulator [--port P] [--host H] [--seed N] [--trades-per-second R] [--max-fills N]',
  options: { port: { type: 'string' }, host: { type: 'string' }, seed: { type: 'string' }, 'trades-per-second': { type: 'string' }, 'max-fills': { type: 'string' } },
  optionHelp: {
    port: `TCP port (default ${DEFAULT_EMULATOR_PORT}; 0 = any free port)`,
    host: 'bind address (default 127.0.0.1)',
    seed: 'seed of the price path (default 1)',
    'trades-per-second': 'trade rate of every symbol (default: per symbol, 2–8/s)',
    'max-fills': 'fills (real trades) per aggregate trade: 1 to N (default 1)',
  },
  async run(flags) {
    const number = (name: string, fallback?: number) => {
      const raw = flags[name];
      if (raw === undefined) return fallback;
      const value = Number(raw);
      if (!Number.isFinite(value) || value < 0) throw new BtcError('InvalidInput', `--${name} must be a non-negative number, got ${String(raw)}`);
      return value;
    };
    const emulator = await startEmulator({
      port: number('port', DEFAULT_EMULATOR_PORT),
      host: (flags.host as string | undefined) ?? '127.0.0.1',
      seed: number('seed', 1),
      tradesPerSecond: number('trades-per-second'),
      maxFills: number('max-fills'),
    });
    console.log(`exchange emulator listening on ${emulator.url}`);
    console.log(`  point the collector at it: BTC_TS_EXCHANGE_URL=${emulator.url}`);
    console.log(`  faults: curl -X PUT ${emulator.url}/admin/faults -d '{"rateLimit":{"retryAfterSeconds":2}}'   state: ${emulator.url}/admin/state`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await emulator.stop();
    return 0;
  },
};
