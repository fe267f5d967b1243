// test/e2e/alerts-failover.test.ts
// Two real runtimes on one MinIO, the holder killed with -9: the survivor sends lease_change once and resolves it once at a real webhook receiver.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { e2eCluster, type E2eCluster } from '../helpers/e2e-cluster.ts';
import { auditLines, healthOf, waitFor, waitForHolder } from '../helpers/lease-probe.ts';
import type { RuntimeProcess } from '../helpers/runtime-process.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const minio = inject('minio');
const QUIET_S = 6;
let receiver: WebhookReceiver;
let cluster: E2eCluster | undefined;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  cluster = await e2eCluster({
    minio,
    name: 'alerts-e2e',
    hosts: ['pc-a', 'pc-b'],
    start: 'parallel',
    // Checked every second; a lease change is over after QUIET_S seconds without another.
    config: `alerts:\n  everySeconds: 1\n  repeatSeconds: 0\n  retryDelayMs: 50\n  rules:\n    leaseChange: { enabled: true, quietSeconds: ${QUIET_S} }\n`,
    timings: { leaseSeconds: 3, heartbeatSeconds: 0.5 },
    env: { SIGNAL_WEBHOOK_URLS: `${receiver.base}/hooks/T9/B9/e2e-secret-token` },
  });
}, 300_000);

afterAll(async () => {
  try {
    await cluster?.dispose();
  } finally {
    await receiver?.close();
  }
});

describe('alerts across a kill -9 failover', () => {
  it('the survivor fires lease_change once (changed hands from the killed holder) and resolves it once; the metrics count the change', async () => {
    const [a, b] = cluster!.runtimes as [RuntimeProcess, RuntimeProcess];
    const holder = await waitFor('a holder', async () => ((await healthOf(a))?.leader.self ? a : (await healthOf(b))?.leader.self ? b : null), 60_000, 100);
    const survivor = holder === a ? b : a;
    const killed = holder === a ? 'pc-a' : 'pc-b';
    const alive = holder === a ? 'pc-b' : 'pc-a';
    expect(receiver.received.filter((m) => m.body?.key === 'lease_change')).toEqual([]);

    await holder.kill9();
    await waitForHolder(survivor, 20_000);
    const lease = () => receiver.received.filter((m) => m.body?.key === 'lease_change').map((m) => m.body);
    await waitFor('lease_change fired', async () => lease().length >= 1, 20_000, 100);
    await waitFor('lease_change resolved', async () => lease().some((m) => m.kind === 'resolve'), (QUIET_S + 20) * 1000, 200);
    // A few more checks pass after the resolve: nothing else is sent.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(lease().map((m) => `${m.host}:${m.kind}`)).toEqual([`${alive}:fire`, `${alive}:resolve`]);
    expect(lease()[0].summary).toMatch(new RegExp(`^lease changed hands: ${killed} \\(epoch \\d+\\) → ${alive} \\(epoch \\d+\\), reason stale`));
    expect(auditLines(survivor, 'alert.fire').filter((e) => e.key === 'lease_change')).toHaveLength(1);
    expect(auditLines(survivor, 'alert.resolve').filter((e) => e.key === 'lease_change')).toHaveLength(1);
    expect(JSON.stringify(auditLines(survivor))).not.toContain('e2e-secret-token');

    const metrics = await (await fetch(`${survivor.url}/metrics`)).text();
    expect(Number(/^btc_ts_leader_changes_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^btc_ts_alert_open\{rule="lease_change"\} 0$/m);
  }, 120_000);
});
