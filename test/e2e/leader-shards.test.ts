// test/e2e/leader-shards.test.ts
// Three real runtimes, six shards, MinIO: a 2/2/2 split, kill -9 moves a runtime's shards within the lease bound, a joiner gets its share by handover, every trade id once.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SYMBOLS } from '../../runtime/emulator/market.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { checkPair, compareRefs, describeIssue, parseRawKey, summarizeSegment, type SegmentSummary } from '../../runtime/sync/continuity.ts';
import { cursorLastId, e2eCluster, healthJson, type E2eCluster } from '../helpers/e2e-cluster.ts';
import { sleep, waitFor } from '../helpers/lease-probe.ts';
import type { RuntimeProcess } from '../helpers/runtime-process.ts';
import { symbolKey } from '../../runtime/keys.ts';

const SHARDS = 6;
const LEASE_MS = 3_000;
const SYMBOLS = DEFAULT_SYMBOLS.map((s) => s.symbol); // three symbols
// Six streams, one pinned per shard: trades of each symbol on shards 0-2, tickers on 3-5.
const STREAMS = [
  ...SYMBOLS.map((symbol, i) => `    - { exchange: binance, topic: trades, symbols: [${symbol}], shard: ${i} }`),
  ...SYMBOLS.map((symbol, i) => `    - { exchange: binance, topic: ticker, symbols: [${symbol}], shard: ${i + 3} }`),
].join('\n');

interface ShardRow {
  shard: number;
  host: string | null;
  epoch: number;
  self: boolean;
}
interface Health {
  shards?: { held: number[]; rows: ShardRow[]; live: string[] };
}

const healthOf = (rt: RuntimeProcess) => healthJson<Health>(rt);

describe('sharded collection (three runtimes, six shards, kill -9, a fourth joins)', () => {
  const minio = inject('minio');
  let cluster: E2eCluster;
  let runtimes: RuntimeProcess[];

  beforeAll(async () => {
    cluster = await e2eCluster({
      minio,
      name: 'leader-shards',
      hosts: ['pc-a', 'pc-b', 'pc-c'],
      config: `collector:\n  shards: ${SHARDS}\n  streams:\n${STREAMS}\n`,
      emulator: { seed: 21 },
      timings: { leaseSeconds: LEASE_MS / 1000, heartbeatSeconds: 0.5, tickSeconds: 1 },
    });
    runtimes = cluster.runtimes;
  }, 120_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  it('splits 2/2/2, survives kill -9 within the lease bound, hands a joiner its share, never two holders, every id once', { timeout: 180_000 }, async () => {
    const { emulator } = cluster;
    const store = cluster.store;
    // Every 100 ms: which runtimes say they collect each shard. Never two at once.
    const live = new Set(runtimes);
    const doubles: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const answers = await Promise.all([...live].map(async (rt) => ({ rt, h: await healthOf(rt) })));
        for (let k = 0; k < SHARDS; k++) {
          const holders = answers.filter((a) => a.h?.shards?.held.includes(k)).map((a) => a.rt.host);
          if (holders.length > 1) doubles.push(`shard ${k}: ${holders.join(', ')} at ${new Date().toISOString()}`);
        }
        await sleep(100);
      }
    })();
    const heldBy = async () => new Map(await Promise.all([...live].map(async (rt) => [rt.host, (await healthOf(rt))?.shards?.held ?? []] as const)));
    const spread = (m: Map<string, readonly number[]>) => [...m.values()].map((h) => h.length).sort().join('/');
    /** Waits until every trades stream's stored cursor reaches `ids`; on a time-out, names the shard rows and recent warnings. */
    const waitForCursors = async (ids: Map<string, number>, why: string) => {
      for (const symbol of SYMBOLS) {
        const cursor = `collector/cursors/binance/trades/${symbolKey(symbol)}.json`;
        await waitFor(`${symbol}'s cursor to pass ${ids.get(symbol)} (${why})`, async () => ((await cursorLastId(store(), cursor)) ?? 0) >= ids.get(symbol)!, 30_000, 100).catch(async (err: Error) => {
          const got = await store().getOrNull(cursor);
          const rows = await Promise.all([...live].map(async (rt) => `${rt.host}: ${JSON.stringify((await healthOf(rt))?.shards?.rows)}\n${rt.output().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-8).join('\n')}`));
          throw new Error(`${err.message}; cursor ${got?.body.toString()}\n${rows.join('\n')}`);
        });
      }
    };
    try {
      await waitFor('a 2/2/2 split', async () => spread(await heldBy()) === '2/2/2', 60_000, 100);
      // From here on every id must be stored once: each trades stream has a cursor, so its shard collects.
      await waitFor('a cursor for every trades stream', async () => {
        for (const symbol of SYMBOLS) if (!(await store().getOrNull(`collector/cursors/binance/trades/${symbolKey(symbol)}.json`))) return false;
        return true;
      }, 30_000, 100);
      const firstIds = new Map(SYMBOLS.map((s) => [s, emulator.lastTradeId(s)]));
      // The page names each host's shards with their epochs (from the hosts' status documents).
      await waitFor('the page to show every host\'s shards', async () => {
        const page = await fetch(`${runtimes[0]!.url}/`).then((r) => r.text()).catch(() => '');
        return (page.match(/data-testid="host-shards">shards \d \(epoch \d+\), \d \(epoch \d+\) of 6/g) ?? []).length === 3;
      }, 20_000, 100);
      // Collect for a while: every trades cursor passes the id its symbol produces a second from now.
      await waitForCursors(new Map(SYMBOLS.map((s) => [s, emulator.lastTradeId(s, Date.now() + 1_000)])), 'collect for a second');

      // kill -9 one runtime: its two shards move to the survivors within the lease (plus a beat or two).
      const victim = runtimes[2]!;
      const victimShards = (await healthOf(victim))!.shards!.held;
      await victim.kill9();
      live.delete(victim);
      const killedAt = Date.now();
      await waitFor('the survivors to take the dead runtime\'s shards', async () => {
        const held = [...(await heldBy()).values()].flat();
        return victimShards.every((k) => held.includes(k));
      }, 30_000, 100);
      const movedMs = Date.now() - killedAt;
      console.info(`[leader-shards] ${victim.host}'s shards ${victimShards.join(',')} held by survivors ${movedMs} ms after kill -9 (lease ${LEASE_MS} ms)`);
      // The lease plus two heartbeats and the poll; slack for a loaded 2-core machine.
      expect(movedMs, `shards moved after ${movedMs} ms`).toBeLessThanOrEqual(LEASE_MS + 4_000);
      expect(spread(await heldBy())).toBe('3/3');

      // A fourth runtime joins: it gets two shards by handover, the others keep two each.
      const d = await cluster.spawn('pc-d');
      live.add(d);
      await waitFor('pc-d to get its share by handover', async () => spread(await heldBy()) === '2/2/2', 45_000, 100);

      // Let the holders (the handed-over shards' too) pass the id each trades stream produces a
      // second from now, then check ids and segments.
      const lastIds = new Map(SYMBOLS.map((s) => [s, emulator.lastTradeId(s, Date.now() + 1_000)]));
      await waitForCursors(lastIds, 'pass the last id');
      polling = false;
      await poller;
      expect(doubles.slice(0, 10)).toEqual([]);

      for (const symbol of SYMBOLS) {
        const prefix = `raw/binance/trades/${symbolKey(symbol)}/`;
        const counts = new Map<number, number>();
        const summaries: SegmentSummary[] = [];
        for (const key of await listKeys(store(), prefix)) {
          const body = (await store().get(key)).body;
          const ref = parseRawKey(key);
          if (ref) summaries.push(summarizeSegment(ref, body));
          for (const line of body.toString().split('\n')) {
            if (!line) continue;
            const id = Number((JSON.parse(line) as { data: { id: string } }).data.id);
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
        }
        // The sync's continuity check: seq exact inside an epoch, no time overlap across epochs.
        summaries.sort(compareRefs);
        const issues = summaries.slice(1).flatMap((b, i) => {
          const issue = checkPair(summaries[i]!, b, { timeGapMs: 60_000 });
          return issue ? [describeIssue(issue)] : [];
        });
        expect(issues, symbol).toEqual([]);
        const missing: number[] = [];
        for (let id = firstIds.get(symbol)!; id <= lastIds.get(symbol)!; id++) if (!counts.has(id)) missing.push(id);
        expect(missing.slice(0, 20), `${symbol}: missing`).toEqual([]);
        expect([...counts].filter(([, n]) => n > 1).map(([id]) => id).slice(0, 20), `${symbol}: repeated`).toEqual([]);
      }
    } finally {
      polling = false;
      await poller;
    }
  });
});
