// ops/bench/soak.ts
// Benchmark: two runtimes at the shipped lease defaults behind a slow NAS (a share of requests delayed up to 3 s) for an hour; takeovers while both live must be zero.

import { pathToFileURL } from 'node:url';
import { defaultConfig } from '../../config/schema.ts';
import { auditLines, freshBucket, healthOf, leaseEnv, sleep, waitFor } from '../../test/helpers/lease-probe.ts';
import { startMinio } from '../../test/helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../../test/helpers/runtime-process.ts';
import { startLatencyProxy } from './_latency-proxy.ts';

interface ShardHealth {
  leader: { host: string | null; epoch: number; self: boolean; degraded?: boolean };
  shards?: { rows: Array<{ shard: number; host: string | null; epoch: number; self: boolean }> };
}

/**
 * `npm run bench -- soak [--minutes 60] [--share 0.1] [--max-delay-ms 3000] [--shards 1] [--preferred "soak-a=0;soak-b=1"]`
 * (`--preferred` is BTC_TS_PREFERRED_SHARDS for both runtimes: the soak then also shows that
 * preferred placement does not move a shard while its holder lives.)
 * Both runtimes live the whole time, so every new epoch of a lease is a false takeover.
 */
export default async function soak(args: string[]): Promise<object> {
  const minutes = Number(flag(args, '--minutes') ?? 60);
  const share = Number(flag(args, '--share') ?? 0.1);
  const maxDelayMs = Number(flag(args, '--max-delay-ms') ?? 3000);
  const shards = Number(flag(args, '--shards') ?? 1);
  const preferred = flag(args, '--preferred');
  const { leaseSeconds, heartbeatSeconds } = defaultConfig().lease;
  const minio = await startMinio();
  const proxy = await startLatencyProxy(new URL(minio.endpoint), { share, maxDelayMs });
  const procs: RuntimeProcess[] = [];
  try {
    const bucket = await freshBucket(minio, 'bench-soak');
    const env = leaseEnv(minio, proxy.url, bucket, { leaseSeconds, heartbeatSeconds }, { ...(shards > 1 ? { BTC_TS_SHARDS: String(shards) } : {}), ...(preferred ? { BTC_TS_PREFERRED_SHARDS: preferred } : {}) });
    for (const host of ['soak-a', 'soak-b']) procs.push(await spawnRuntime({ host, env }));
    const epochsOf = async () => {
      const seen = new Map<string, number>();
      for (const p of procs) {
        const h = (await healthOf(p, 10_000)) as ShardHealth | null;
        if (!h) continue;
        if (h.shards) for (const r of h.shards.rows) if (r.self) seen.set(`shard-${r.shard}`, r.epoch);
        if (!h.shards && h.leader.self) seen.set('leader', h.leader.epoch);
      }
      return seen;
    };
    // Settled: every lease held, and with shards the split even (the start-up handovers are over).
    const heldBy = async () => Promise.all(procs.map(async (p) => ((await healthOf(p, 10_000)) as ShardHealth | null)?.shards?.rows.filter((r) => r.self).length ?? 0));
    await waitFor('every lease held', async () => (await epochsOf()).size === Math.max(1, shards) || null, 120_000, 500);
    if (shards > 1) await waitFor('an even split', async () => (await heldBy()).every((n) => n >= Math.floor(shards / procs.length)) || null, 120_000, 500);
    const acquiresAtStart = procs.map((p) => auditLines(p, 'collector.leader.acquire').length);
    await sleep(3 * leaseSeconds * 1000);
    const start = await epochsOf();
    const changes: Array<{ lease: string; from: number; to: number; at: string }> = [];
    let degradedSamples = 0;
    let samples = 0;
    const last = new Map(start);
    const endAt = Date.now() + minutes * 60_000;
    while (Date.now() < endAt) {
      await sleep(1_000);
      for (const p of procs) if (p.child.exitCode !== null) throw new Error(`${p.host} exited during the soak:\n${p.output().slice(-2000)}`);
      const now = await epochsOf();
      samples++;
      for (const p of procs) if (((await healthOf(p, 10_000)) as ShardHealth | null)?.leader.degraded) degradedSamples++;
      for (const [lease, epoch] of now) {
        const before = last.get(lease);
        if (before !== undefined && epoch !== before) changes.push({ lease, from: before, to: epoch, at: new Date().toISOString() });
        last.set(lease, epoch);
      }
    }
    return {
      setup: { lease_s: leaseSeconds, heartbeat_s: heartbeatSeconds, minutes, shards, preferred: preferred ?? null, delayed_share: share, max_delay_ms: maxDelayMs, store: 'MinIO on loopback behind ops/bench/_latency-proxy.ts, two `runtime start` processes' },
      proxy: proxy.stats(),
      takeovers_while_holder_lives: changes.length,
      changes,
      // Why each lease changed hands after the start (from the processes' audit log lines): `stale` is a false takeover.
      acquire_reasons_after_start: procs.flatMap((p, i) => auditLines(p, 'collector.leader.acquire').slice(acquiresAtStart[i]).map((l) => ({ host: p.host, reason: l.reason, shard: l.shard, epoch: l.epoch }))),
      degraded_samples: degradedSamples,
      samples,
      start_epochs: Object.fromEntries(start),
      end_epochs: Object.fromEntries(last),
    };
  } finally {
    await Promise.all(procs.map((p) => p.dispose()));
    await proxy.close();
    await minio.dispose();
  }
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await soak(process.argv.slice(2)), null, 2));
}
