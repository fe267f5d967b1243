// test/e2e/alerts-failover.test.ts
// Two real runtimes on one MinIO, the holder killed with -9: the survivor sends lease_change once and resolves it once at a real webhook receiver.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditLines, freshBucket, healthOf, leaseEnv, waitFor, waitForHolder } from '../helpers/lease-probe.ts';
import { spawnRuntimes, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const minio = inject('minio');
const QUIET_S = 6;
let receiver: WebhookReceiver;
let runtimes: RuntimeProcess[] = [];
let configDir: string;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  configDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-alerts-e2e-'));
  const config = path.join(configDir, 'app.yaml');
  // Checked every second; a lease change is over after QUIET_S seconds without another.
  writeFileSync(config, `alerts:\n  everySeconds: 1\n  repeatSeconds: 0\n  retryDelayMs: 50\n  rules:\n    leaseChange: { enabled: true, quietSeconds: ${QUIET_S} }\n`);
  const bucket = await freshBucket(minio, 'alerts-e2e');
  const env = leaseEnv(minio, minio.endpoint, bucket, { leaseSeconds: 3, heartbeatSeconds: 0.5 }, { BTC_TS_CONFIG: config, SIGNAL_WEBHOOK_URLS: `${receiver.base}/hooks/T9/B9/e2e-secret-token` });
  runtimes = await spawnRuntimes([
    { host: 'pc-a', env },
    { host: 'pc-b', env },
  ]);
}, 300_000);

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.dispose()));
  await receiver?.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

describe('alerts across a kill -9 failover', () => {
  it('the survivor fires lease_change once (changed hands from the killed holder) and resolves it once; the metrics count the change', async () => {
    const [a, b] = runtimes as [RuntimeProcess, RuntimeProcess];
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
