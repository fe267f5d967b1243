// runtime/leader/shard-status.ts
// The shard leases as reported: one row per shard, this runtime's preference block, the status `shards` block and per-shard gauges.

import type { FnContext } from '../define.ts';
import { iso } from '../lease.ts';
import { settledFor, settleMsOf } from './shard-members.ts';
import type { ShardState } from './shard-state.ts';

/**
 * One row per shard as this runtime sees it (status `shards`, /health, the page): `host` holds it
 * at `epoch`; `preferred` is its preferred host by this runtime's config (null: none).
 */
export function shardRows(state: ShardState) {
  return state.slots.map((s) => ({
    shard: s.shard,
    host: s.view.leaderHost,
    epoch: s.view.epoch,
    self: s.view.holder,
    since: iso(s.view.since),
    degraded: s.view.degraded,
    preferred: state.preferred[s.shard] ?? null,
  }));
}

/**
 * This runtime as a preferred host (null when its config prefers no shard for it): its preferred
 * shards, whether it has settled (may ask for them back), the settle time now (ms, doubled per
 * flap), its flaps; plus the shards live runtimes both claim.
 */
export function preferenceBlock(ctx: Pick<FnContext, 'host' | 'config' | 'clock'>, state: ShardState) {
  const mine = state.preferred.flatMap((h, k) => (h === ctx.host ? [k] : []));
  return {
    shards: mine,
    settled: mine.length > 0 && settledFor(ctx, state) === 0,
    settle_ms: settleMsOf(ctx, state.settle.flaps),
    flaps: state.settle.flaps,
    conflicts: state.conflicts,
  };
}

/** Status `shards` block and the per-shard gauges, written only when they changed. */
export function publishShardStatus(ctx: FnContext, state: ShardState): void {
  const rows = shardRows(state);
  for (const r of rows) ctx.metrics?.noteShard?.(r.shard, r.self, r.epoch);
  const block = { count: state.n, live: state.live, share: state.share, refused: state.refused, rows, preference: preferenceBlock(ctx, state) };
  const fingerprint = JSON.stringify(block);
  if (state.lastStatus === fingerprint) return;
  state.lastStatus = fingerprint;
  const zero = state.slots[0]!.view;
  ctx.status
    .update((s) => {
      (s as unknown as Record<string, unknown>).shards = block;
      s.leader = { host: zero.leaderHost, since: iso(zero.since), active: zero.holder, epoch: zero.epoch };
    })
    .catch(() => undefined);
}
