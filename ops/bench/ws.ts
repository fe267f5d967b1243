// ops/bench/ws.ts
// WebSocket vs REST ingest on the same trade streams, a sustained phase each: runtime, emulator and MinIO in their own processes; messages/s, loss, lag, CPU, RSS.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { freePort, startMinio } from '../../test/helpers/minio.ts';
import type { WsPhaseInput } from './_ws-worker.ts';
import { RAW_PREFIX } from '../../runtime/keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = path.join(ROOT, 'ops/bench/_ws-worker.ts');
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'ETH/BTC'];
const TICK_SECONDS = 1;
const SAMPLE_MS = 250;

/**
 * `npm run bench -- ws [--seconds 60] [--rates 5000,20000] [--transports ws,rest]`, or the older
 * positional form `ws [seconds] [rates]`. Each phase runs the runtime in a fresh process
 * (ops/bench/_ws-worker.ts, started like `runtime start`: node + tsx), so its CPU and RSS are its
 * own; the emulator and MinIO are separate processes, their RSS reported apart (Linux /proc; null
 * elsewhere).
 */
export default async function wsBench(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { seconds: { type: 'string' }, rates: { type: 'string' }, transports: { type: 'string' }, 'node-flags': { type: 'string' } },
  });
  const seconds = Number(values.seconds ?? positionals[0] ?? 60);
  const rates = (values.rates ?? positionals[1] ?? '5000,20000').split(',').map(Number);
  const transports = (values.transports ?? 'ws,rest').split(',') as Array<'ws' | 'rest'>;
  // Extra node flags for the runtime's process only (compare V8 settings: `--node-flags "--max-semi-space-size=2"`).
  const nodeFlags = (values['node-flags'] ?? '').split(' ').filter(Boolean);
  if (!(seconds > 0) || rates.some((r) => !(r > 0)) || transports.some((t) => t !== 'ws' && t !== 'rest')) {
    throw new Error('usage: npm run bench -- ws [--seconds N] [--rates a,b] [--transports ws,rest]');
  }
  const minio = await startMinio();
  const results: unknown[] = [];
  try {
    for (const offered of rates) {
      const perSymbol = Math.ceil(offered / SYMBOLS.length);
      const emulatorPort = await freePort();
      const emulator = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'emulator', '--port', String(emulatorPort), '--trades-per-second', String(perSymbol)], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      try {
        const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
        for (let i = 0; ; i++) {
          if (await fetch(`${emulatorUrl}/api/v3/ping`).then((r) => r.ok).catch(() => false)) break;
          if (i > 300) throw new Error('emulator did not start');
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const transport of transports) {
          // A bucket per phase: no phase starts from another's cursor (a different rate means other ids).
          const bucket = `bench-ws-${transport}-${Date.now().toString(36)}`;
          await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
          const input: WsPhaseInput = {
            transport,
            seconds,
            tickSeconds: TICK_SECONDS,
            symbols: SYMBOLS,
            emulatorUrl,
            minio: { endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey },
          };
          const others = { emulator: emulator.pid, minio: minioPid(minio.port) };
          const { figures, peaks } = await runWorker(input, others, nodeFlags);
          const continuity = await checkContinuity({ ...minio, bucket });
          results.push({
            offered_trades_per_s: perSymbol * SYMBOLS.length,
            ...figures,
            loss: continuity,
            other_processes_rss_mb_peak: peaks,
          });
        }
      } finally {
        emulator.kill('SIGTERM');
      }
    }
  } finally {
    await minio.dispose();
  }
  return {
    streams: SYMBOLS.length,
    tick_s: TICK_SECONDS,
    seconds,
    results,
    targets: { ws_lag_to_durable_append_ms_p99_at_5000: 250, ws_sustained_messages_per_s: 20_000, rss_mb: 300 },
    note:
      'Each phase: the runtime alone in a fresh process (node + tsx, as `runtime start`); CPU and rss_mb_peak are that process\'s (peak of 100 ms samples and getrusage maxRSS). ' +
      'Lag to durable append: ws runner, trade time → fsynced local append; lag to primary: trade time → raw segment PUT returned. ' +
      'trade_ids_stored_per_s = cursor advance over the measured seconds; loss = ids missing or repeated between the first and last id stored in MinIO over the whole phase (warm-up included).',
  };
}

/** Runs one phase in a fresh process; samples the emulator's and MinIO's RSS meanwhile. */
async function runWorker(input: WsPhaseInput, others: Record<string, number | undefined>, nodeFlags: string[]) {
  const peaks: Record<string, number | null> = {};
  for (const name of Object.keys(others)) peaks[name] = null;
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(others)) {
      const rss = pid === undefined ? null : procRssMb(pid);
      if (rss !== null) peaks[name] = Math.max(peaks[name] ?? 0, rss);
    }
  }, SAMPLE_MS);
  let child: ChildProcess | undefined;
  try {
    const figures = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child = spawn(process.execPath, [...nodeFlags, path.join(ROOT, 'bin/tsnode.mjs'), WORKER, JSON.stringify(input)], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, // as bin/runtime.mjs
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('exit', (code) => {
        const lines = out.trim().split('\n');
        const line = lines.pop() ?? '';
        if (lines.length) process.stderr.write(lines.join('\n') + '\n'); // e.g. --trace-gc
        if (code === 0 && line.startsWith('{')) resolve(JSON.parse(line) as Record<string, unknown>);
        else reject(new Error(`ws bench worker (${input.transport}) exited with ${code}: ${out.slice(-500)}`));
      });
    });
    return { figures, peaks };
  } finally {
    clearInterval(timer);
    if (child && child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Every trade id stored in the phase's bucket, per stream: holes and repeats between the first and the last. */
async function checkContinuity(minio: { endpoint: string; bucket: string; accessKey: string; secretKey: string }) {
  const store = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  const perStream = new Map<string, number[]>();
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.listPage(RAW_PREFIX, { startAfter });
    for (const o of page.objects) {
      const stream = o.key.split('/').slice(1, 4).join('/');
      const ids = perStream.get(stream) ?? [];
      perStream.set(stream, ids);
      for (const line of (await store.get(o.key)).body.toString().split('\n')) {
        if (line) ids.push(Number((JSON.parse(line) as { data: { id: string } }).data.id));
      }
    }
    if (!page.nextStartAfter) break;
    startAfter = page.nextStartAfter;
  }
  const streams: Record<string, { first: number; last: number; stored: number; missing: number; repeated: number }> = {};
  let missing = 0;
  let repeated = 0;
  for (const [stream, list] of perStream) {
    const ids = Float64Array.from(list).sort();
    let rep = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i] === ids[i - 1]) rep++;
    const first = ids[0] ?? 0;
    const last = ids[ids.length - 1] ?? 0;
    const miss = ids.length ? last - first + 1 - (ids.length - rep) : 0;
    streams[stream] = { first, last, stored: ids.length, missing: miss, repeated: rep };
    missing += miss;
    repeated += rep;
  }
  return { ok: missing === 0 && repeated === 0 && perStream.size === SYMBOLS.length, missing, repeated, streams };
}

/** Resident set of `pid` in MB from /proc (Linux); null where there is no /proc. */
function procRssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** The MinIO server listening on `port` (its command line names the address); undefined where there is no /proc. */
function minioPid(port: number): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const cmd = (() => {
        try {
          return readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        } catch {
          return '';
        }
      })();
      if (cmd.includes('server') && cmd.includes(`127.0.0.1:${port}`)) return Number(entry);
    }
  } catch {
    // no /proc
  }
  return undefined;
}
