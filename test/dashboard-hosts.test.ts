// test/dashboard-hosts.test.ts
// The page's Hosts table in-process: each host's state (running / stopped / stale), the age of its status, its shards and preferred shards.

import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import type { HostStatus } from '../runtime/status.ts';
import { createUiRuntime, type UiRuntime } from './helpers/ui-runtime.ts';
import { statusKey } from '../runtime/keys.ts';

let current: UiRuntime[] = [];
afterEach(async () => {
  await Promise.all(current.map((u) => u.dispose()));
  current = [];
});

function hostStatus(host: string, updatedAt: number, extra: Partial<HostStatus> = {}): HostStatus {
  return {
    host,
    mode: 'PROD',
    updated_at: new Date(updatedAt).toISOString(),
    leader: { host, since: null, active: true },
    storage: { primary: 'up', secondary: 'idle', secondary_path: '/x' },
    sync: { pending: false, last: null },
    streams: [],
    period_s: 5,
    ...extra,
  };
}

/** The <tr> of one host in the Hosts table. */
function hostRow(page: string, host: string): string {
  const row = new RegExp(`<tr data-host="${host}">(.*?)</tr>`, 's').exec(page);
  if (!row) throw new Error(`no row for ${host}`);
  return row[1]!;
}

describe('Hosts table: state and age', () => {
  it('says running / stopped / stale per host, with the age of updated_at', async () => {
    // A clock that stands still: the ages on the page are exact however slow the machine is.
    const now = Date.now();
    const clock = manualClock(now);
    const u = await createUiRuntime({ host: 'alpha', clock });
    current.push(u);
    await u.primary.put(statusKey('fresh'), JSON.stringify(hostStatus('fresh', now - 2_000)));
    await u.primary.put(statusKey('gone'), JSON.stringify(hostStatus('gone', now - 120_000, { stopped_at: new Date(now - 120_000).toISOString() })));
    // 3 periods of 5 s = 15 s; 20 s without a write is stale.
    await u.primary.put(statusKey('hung'), JSON.stringify(hostStatus('hung', now - 20_000)));
    // Written before period_s existed: judged against 30 s periods.
    const { period_s: _, ...legacy } = hostStatus('old', now - 60_000);
    await u.primary.put(statusKey('old'), JSON.stringify(legacy));

    const page = await (await u.app.request('/', { headers: { accept: 'text/html' } })).text();
    expect(hostRow(page, 'alpha')).toMatch(/data-testid="host-state"><span class="badge ok">running</);
    expect(hostRow(page, 'fresh')).toMatch(/<span class="badge ok">running</);
    expect(hostRow(page, 'fresh')).toMatch(/\(2 s ago\)/);
    expect(hostRow(page, 'gone')).toMatch(/<span class="badge idle">stopped</);
    expect(hostRow(page, 'gone')).toMatch(/\(2 min ago\)/);
    expect(hostRow(page, 'hung')).toMatch(/<span class="badge bad">stale</);
    expect(hostRow(page, 'hung')).toMatch(/\(20 s ago\)/);
    expect(hostRow(page, 'old')).toMatch(/<span class="badge ok">running</);
  });

  it('shows the shards each host holds and, for a preferred host, where its preferred shards are (collector.shards > 1)', async () => {
    const now = Date.now();
    const u = await createUiRuntime({ host: 'alpha', clock: manualClock(now) });
    current.push(u);
    const rows = (holders: string[], preferred: Array<string | null>, self: string) =>
      holders.map((host, shard) => ({ shard, host, epoch: shard + 1, self: host === self, since: null, degraded: false, preferred: preferred[shard] }));
    const preferred = ['pc-a', 'pc-a', null, null];
    const shards = (self: string, preference: object) => ({ count: 4, live: ['pc-a', 'pc-b'], share: 2, refused: null, rows: rows(['pc-a', 'pc-b', 'pc-b', 'pc-a'], preferred, self), preference });
    // pc-a is preferred for 0 and 1 but pc-b still holds 1, and pc-a has not settled yet.
    await u.primary.put(statusKey('pc-a'), JSON.stringify({ ...hostStatus('pc-a', now - 1_000), shards: shards('pc-a', { shards: [0, 1], settled: false, settle_ms: 30_000, flaps: 1, conflicts: [] }) }));
    await u.primary.put(statusKey('pc-b'), JSON.stringify({ ...hostStatus('pc-b', now - 1_000), shards: shards('pc-b', { shards: [], settled: false, settle_ms: 30_000, flaps: 0, conflicts: ['shard 3: pc-b, pc-c'] }) }));
    const page = await (await u.app.request('/', { headers: { accept: 'text/html' } })).text();
    expect(hostRow(page, 'pc-a')).toContain('data-testid="host-shards">shards 0 (epoch 1), 3 (epoch 4) of 4<');
    expect(hostRow(page, 'pc-a')).toMatch(/data-testid="host-shard-preference" class="warn">prefers 0, 1; 1 held by pc-b; asks back after 30 s live \(flapped 1×\)</);
    expect(hostRow(page, 'pc-b')).toContain('data-testid="host-shards">shards 1 (epoch 2), 2 (epoch 3) of 4<');
    expect(hostRow(page, 'pc-b')).not.toContain('host-shard-preference');
    expect(hostRow(page, 'pc-b')).toMatch(/data-testid="host-shard-conflicts" class="bad">preferred by two runtimes \(configs differ\): shard 3: pc-b, pc-c</);
  });
});
