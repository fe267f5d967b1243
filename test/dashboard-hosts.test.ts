// test/dashboard-hosts.test.ts
// The page's Hosts table in-process: each host's state (running / stopped / stale) and the age of its status.

import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import { statusKey, type HostStatus } from '../runtime/status.ts';
import { createUiRuntime, type UiRuntime } from './helpers/ui-runtime.ts';

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
});
