// ops/bench/_ingest-processes.ts
// `npm run bench -- ingest --processes`: one `runtime start` process collecting every stream against two sharing them (collector.shards 2), same machine, one run.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createS3Store } from '../../runtime/store/s3.ts';
import { freshBucket, leaseEnv, sleep, waitFor } from '../../test/helpers/lease-probe.ts';
import { freePort, startMinio, type MinioServer } from '../../test/helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../../test/helpers/runtime-process.ts';
import { cursorKey } from '../../runtime/keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Two trades streams, pinned one per shard, so two runtimes split them 1/1.
const STREAMS = [
  { symbol: 'BTC/USDT', key: 'BTC-USDT', shard: 0 },
  { symbol: 'ETH/USDT', key: 'ETH-USDT', shard: 1 },
];

interface Health {
  shards?: { held: number[] };
  leader: { self: boolean };
}

/** Records/s per stream from its stored cursor's last_id (trade ids are consecutive in the emulator). */
async function cursorIds(minio: MinioServer, bucket: string): Promise<Map<string, number>> {
  const store = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  const ids = new Map<string, number>();
  for (const s of STREAMS) {
    const got = await store.getOrNull(cursorKey({ exchange: 'binance', topic: 'trades', symbol: s.symbol }));
    if (got) ids.set(s.symbol, (JSON.parse(got.body.toString()) as { last_id: number }).last_id);
  }
  return ids;
}

async function health(rt: RuntimeProcess): Promise<Health | null> {
  return fetch(`${rt.url}/health`, { signal: AbortSignal.timeout(5_000) })
    .then((r) => (r.ok ? (r.json() as Promise<Health>) : null))
    .catch(() => null);
}

/** Runs `hosts` runtime processes on a fresh bucket for `seconds` after warm-up; records/s per host from the cursors of the streams it holds. */
async function phase(minio: MinioServer, emulatorUrl: string, hosts: string[], seconds: number) {
  const shards = hosts.length;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-ingestp-'));
  const config = path.join(dir, 'app.yaml');
  const streams = STREAMS.map((s) => `    - { exchange: binance, topic: trades, symbols: [${s.symbol}]${shards > 1 ? `, shard: ${s.shard}` : ''} }`).join('\n');
  writeFileSync(config, `collector:\n${shards > 1 ? `  shards: ${shards}\n` : ''}  streams:\n${streams}\n`);
  const bucket = await freshBucket(minio, `bench-ingest-${shards}`);
  const env = leaseEnv(minio, minio.endpoint, bucket, { leaseSeconds: 3, heartbeatSeconds: 0.5 }, { BTC_TS_CONFIG: config, BTC_TS_EXCHANGE_URL: emulatorUrl, BTC_TS_TICK_SECONDS: '1', BTC_TS_LOG_LEVEL: 'warn' });
  const procs: RuntimeProcess[] = [];
  try {
    for (const host of hosts) procs.push(await spawnRuntime({ host, env }));
    // Settled: each process holds its shard (or the one lease) and every cursor exists.
    const holders = await waitFor('the split', async () => {
      const hs = await Promise.all(procs.map(health));
      if (shards > 1 && !hs.every((h) => h?.shards?.held.length === 1)) return null;
      if (shards === 1 && !hs[0]?.leader.self) return null;
      return (await cursorIds(minio, bucket)).size === STREAMS.length ? hs : null;
    }, 120_000, 500);
    await sleep(5_000); // the first ticks page through the backlog since start: past it
    const before = await cursorIds(minio, bucket);
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const after = await cursorIds(minio, bucket);
    const elapsedS = (Date.now() - t0) / 1000;
    const perStream = Object.fromEntries(STREAMS.map((s) => [s.symbol, Math.round((after.get(s.symbol)! - before.get(s.symbol)!) / elapsedS)]));
    const perHost = Object.fromEntries(
      procs.map((p, i) => {
        const held = shards > 1 ? holders[i]!.shards!.held : STREAMS.map((s) => s.shard);
        return [p.host, STREAMS.filter((s) => held.includes(s.shard)).reduce((n, s) => n + perStream[s.symbol]!, 0)];
      }),
    );
    return { runtimes: hosts.length, shards, measured_s: Math.round(elapsedS * 10) / 10, records_per_s_by_stream: perStream, records_per_s_by_runtime: perHost, records_per_s_total: Object.values(perStream).reduce((a, b) => a + b, 0) };
  } finally {
    await Promise.all(procs.map((p) => p.dispose()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function ingestProcesses(args: string[]): Promise<object> {
  const seconds = Number(args[0] ?? 30);
  const perSymbol = Number(args[1] ?? 12_000);
  const minio = await startMinio();
  const emulatorPort = await freePort();
  const emulator = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'emulator', '--port', String(emulatorPort), '--trades-per-second', String(perSymbol)], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    await waitFor('the emulator', async () => fetch(`${emulatorUrl}/api/v3/ping`).then((r) => r.ok).catch(() => false), 30_000, 100);
    const one = await phase(minio, emulatorUrl, ['ingest-one'], seconds);
    const two = await phase(minio, emulatorUrl, ['ingest-a', 'ingest-b'], seconds);
    return {
      offered_trades_per_s_per_stream: perSymbol,
      streams: STREAMS.length,
      one_runtime: one,
      two_runtimes_sharing: two,
      speedup_total: Math.round((two.records_per_s_total / Math.max(1, one.records_per_s_total)) * 100) / 100,
      note: 'real `runtime start` processes, emulator and MinIO in their own processes on the same machine; records/s from the stored cursors (consecutive trade ids) over the window',
    };
  } finally {
    emulator.kill('SIGTERM');
    await minio.dispose();
  }
}
