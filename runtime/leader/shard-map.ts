// runtime/leader/shard-map.ts
// Which shard each stream belongs to (stable FNV-1a map or a pinned shard), preferred hosts by config, and every shard's placement as stored now (`runtime whatif`).

import type { AppConfig } from '../../config/schema.ts';
import { leaseDocSchema } from '../lease.ts';
import type { StreamId } from '../streams.ts';
import { shardLeaseKey } from '../keys.ts';

/** Shards configured (1 = the one lease of today). */
export const shardCount = (config: AppConfig): number => config.collector.shards ?? 1;

/**
 * FNV-1a, 32 bit, over UTF-8: stable across processes, versions and platforms (no node:crypto, so
 * a workerd build can map streams too). Changing it moves streams between shards: never change it.
 */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The shard of a stream (exchange, topic, symbol): its stream entry's `shard:` when pinned, else
 * fnv1a("exchange\ntopic\nsymbol") mod `collector.shards`. Always 0 with one shard.
 */
export function shardOfStream(config: AppConfig, id: StreamId): number {
  const n = shardCount(config);
  if (n <= 1) return 0;
  const pinned = config.collector.streams.find((s) => s.exchange === id.exchange && s.topic === id.topic && s.symbols.includes(id.symbol))?.shard;
  if (pinned !== undefined) return pinned;
  return fnv1a(`${id.exchange}\n${id.topic}\n${id.symbol}`) % n;
}

/** Every configured stream with its shard (`runtime whatif`, /health, the page). */
export function shardMap(config: AppConfig): Array<StreamId & { shard: number; pinned: boolean }> {
  return config.collector.streams.flatMap((s) =>
    s.symbols.map((symbol) => ({ exchange: s.exchange, topic: s.topic, symbol, shard: shardOfStream(config, { exchange: s.exchange, topic: s.topic, symbol }), pinned: s.shard !== undefined })),
  );
}

/**
 * Shard → its preferred host from `lease.preferredShards` (null: none). The schema guarantees each
 * shard exists and has at most one preferred host (config/schema.ts).
 */
export function preferredHosts(config: AppConfig): Array<string | null> {
  const out: Array<string | null> = Array.from({ length: shardCount(config) }, () => null);
  for (const [host, list] of Object.entries(config.lease.preferredShards ?? {})) for (const k of list) if (k < out.length) out[k] = host;
  return out;
}

/** One shard's placement as `runtime whatif` reads it: its preferred host, its lease as stored now, its streams. */
export interface ShardPlacement {
  shard: number;
  /** Preferred host by this config's lease.preferredShards, null when none. */
  preferred: string | null;
  /** Holder named in `locks/collector.shard-<k>` now (null: absent, released, or the read failed: see `error`). */
  holder: string | null;
  epoch: number | null;
  released: boolean;
  /** The lease read failed: its message (the caller masks secrets before printing it). */
  error?: string;
  streams: string[];
}

/**
 * Reads every shard's lease once from the primary: shard → preferred host, current holder and
 * epoch, streams. One snapshot: whether the holder is still live is for the runtimes to judge (by
 * their own clocks), not for this read. Never throws: a failed read is in `error`.
 */
export async function shardPlacement(config: AppConfig, primary: { getOrNull(key: string): Promise<{ body: Buffer } | null> }): Promise<ShardPlacement[]> {
  const preferred = preferredHosts(config);
  const map = shardMap(config);
  return Promise.all(
    preferred.map(async (pref, shard) => {
      const streams = map.filter((m) => m.shard === shard).map((m) => `${m.exchange}/${m.topic}/${m.symbol}${m.pinned ? ' (pinned)' : ''}`);
      try {
        const got = await primary.getOrNull(shardLeaseKey(shard));
        const doc = got ? leaseDocSchema.parse(JSON.parse(got.body.toString('utf8'))) : null;
        return { shard, preferred: pref, holder: doc && !doc.released ? doc.host : null, epoch: doc?.epoch ?? null, released: doc?.released === true, streams };
      } catch (err) {
        return { shard, preferred: pref, holder: null, epoch: null, released: false, error: err instanceof Error ? err.message : String(err), streams };
      }
    }),
  );
}
