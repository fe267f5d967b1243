// runtime/cli/diag.ts
// `runtime diag api`: reachability and latency of each configured exchange (IPv4 first) and of the primary.

import dns from 'node:dns/promises';
import net from 'node:net';
import type { ExchangePool } from '../collector/exchanges.ts';
import { configHelp, configOption, loadRuntimeForExchangeCheck, type ExchangeTarget } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

const CONNECT_TIMEOUT_MS = 3_000;

interface Probe {
  target: string;
  ok: boolean;
  address: string;
  connect_ms: number | null;
  api_ms: number | null;
  detail: string;
}

export const diagApiCommand: Command = {
  ...listed('diag api'),
  usage: 'runtime diag api [--config FILE] [--json]',
  options: { ...configOption, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, json: 'print the results as JSON' },
  async run(flags) {
    dns.setDefaultResultOrder?.('ipv4first');
    // ccxt is heavy to import; only this command of the short-lived ones needs it.
    const { exchangePoolOf } = await import('../collector/plan.ts');
    const { runtime, exchange } = await loadRuntimeForExchangeCheck(flags);
    const { config } = runtime.loaded;
    const pool = exchangePoolOf(runtime.local, config);
    const ids = [...new Set(config.collector.streams.map((s) => s.exchange))];
    const probes: Probe[] = [];
    for (const id of ids) probes.push(await probeExchange(pool, id));
    const primary = await runtime.store.probePrimary(runtime.clock.now());
    probes.push({
      target: `primary ${runtime.store.primary.describe}`,
      ok: primary.ok,
      address: runtime.store.primary.describe,
      connect_ms: null,
      api_ms: primary.latencyMs,
      detail: primary.ok ? 'put + get + delete ok' : runtime.masker.text(primary.error ?? 'failed'),
    });
    await pool.close();
    const ok = probes.every((p) => p.ok);
    if (flags.json) printJson({ ok, exchange_url: exchange.url, exchange_source: exchange.source, probes });
    else {
      console.log(exchangeLine(exchange));
      printTable(
        ['target', 'result', 'address', 'connect ms', 'api ms', 'detail'],
        probes.map((p) => [p.target, p.ok ? color.green('OK') : color.red('FAIL'), p.address, fmt(p.connect_ms), fmt(p.api_ms), p.detail]),
      );
      if (!ids.length) console.log('\nno exchanges configured (collector.streams is empty)');
    }
    await runtime.shutdown();
    return ok ? 0 : 1;
  },
};

/** The line both `diag api` and `whatif` print first: which exchange URL was checked and why that one. */
export function exchangeLine(exchange: ExchangeTarget): string {
  return exchange.url ? `exchange URL checked: ${exchange.url} (from ${exchange.source})` : `exchange URL checked: none set, ${exchange.source}`;
}

const fmt = (ms: number | null) => (ms === null ? '-' : String(Math.round(ms)));

/** DNS (IPv4 first), a TCP connect to the first address, then one real API call through ccxt. */
async function probeExchange(pool: ExchangePool, id: string): Promise<Probe> {
  const { classify } = await import('../collector/errors.ts');
  const probe: Probe = { target: `exchange ${id}`, ok: false, address: '-', connect_ms: null, api_ms: null, detail: '' };
  let exchange;
  try {
    exchange = pool.instance(id);
  } catch (err) {
    probe.detail = err instanceof Error ? err.message : String(err);
    return probe;
  }
  const api = exchange.urls['api'];
  const firstUrl = typeof api === 'string' ? api : (Object.values(api as Record<string, unknown>).find((v) => typeof v === 'string') as string | undefined);
  try {
    const url = new URL((firstUrl ?? '').replace('{hostname}', String(exchange.hostname ?? '')));
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const addresses = await dns.lookup(url.hostname, { all: true });
    const ordered = [...addresses.filter((a) => a.family === 4), ...addresses.filter((a) => a.family === 6)];
    if (!ordered.length) throw new Error(`${url.hostname}: no address`);
    probe.address = `${ordered[0]!.address}:${port}`;
    probe.connect_ms = await tcpConnect(ordered[0]!.address, port);
  } catch (err) {
    probe.detail = `connect: ${err instanceof Error ? err.message : String(err)}`;
    return probe;
  }
  const started = performance.now();
  try {
    if (exchange.has['fetchTime']) await exchange.fetchTime();
    else await pool.ready(id);
    probe.api_ms = performance.now() - started;
    probe.ok = true;
    probe.detail = exchange.has['fetchTime'] ? 'fetchTime ok' : 'markets loaded';
  } catch (err) {
    const failure = classify(err);
    probe.detail = `${failure.cls}: ${failure.message}`;
  }
  return probe;
}

function tcpConnect(host: string, port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve(performance.now() - started);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TCP connection within ${CONNECT_TIMEOUT_MS} ms`));
    });
    socket.once('error', (err) => reject(err));
  });
}
