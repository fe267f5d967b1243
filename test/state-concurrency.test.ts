// test/state-concurrency.test.ts
// Two runtimes (two PCs) updating the same state on one real MinIO: the conditional write lets only one apply.

import { afterEach, describe, expect, inject, it } from 'vitest';
import { nodeLocalFiles } from '../runtime/local-files.ts';
import { stateSchema } from '../runtime/state/model.ts';
import { commitUpdate, planUpdate, type UpdateRequest } from '../runtime/state/update.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { makeRuntime, putFills, series, STRATEGY, T0, type TestRuntime } from './helpers/state-fixtures.ts';

const open: TestRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.dispose()));
});

const REQUEST: UpdateRequest = {
  simulate_live: true,
  dry_run: false,
  alert_mode: 'auto',
  alert_timeout_ms: 1000,
  alert_retry_delay_ms: 0,
  reset: false,
};

/** Two PCs on one NAS, each with its own local data; the strategy name is unique so the shared bucket stays clean. */
async function twoHosts() {
  const m = inject('minio');
  const nas = createS3Store({ endpoint: m.endpoint, bucket: m.bucket, accessKeyId: m.accessKey, secretAccessKey: m.secretKey });
  const name = `race${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const strategies = { [name]: STRATEGY };
  const a = await makeRuntime({ primary: nas, strategies, host: 'pc1' });
  const b = await makeRuntime({ primary: nas, strategies, host: 'pc2' });
  open.push(a, b);
  const runs = `runs/${name}/BTC-USDT/conservative/`;
  const stateKey = `state/${name}/BTC-USDT/conservative/state.json`;
  return { nas, name, a, b, runs, stateKey };
}

function plan(t: TestRuntime) {
  return planUpdate({ store: t.runtime.store, config: t.runtime.loaded.config, now: t.clock.now() }, REQUEST);
}
function commit(t: TestRuntime, p: Awaited<ReturnType<typeof plan>>) {
  const rt = t.runtime;
  return commitUpdate({ store: rt.store, audit: rt.audit, host: rt.host, logsDir: t.logsDir, files: nodeLocalFiles, configuredWebhooks: [], now: () => t.clock.now() }, p);
}

describe('concurrent state updates on one MinIO', () => {
  it('two updates planned from the same state: exactly one applies, the other is blocked with state_conflict', async () => {
    const { nas, a, b, runs, stateKey } = await twoHosts();
    await putFills(nas, 'a.jsonl', series(T0, 10), runs);

    // Both plan before either writes: the create-only write decides (no state yet).
    const [planA, planB] = [await plan(a), await plan(b)];
    expect([planA.decision.status, planB.decision.status]).toEqual(['applied', 'applied']);
    const first = await Promise.all([commit(a, planA), commit(b, planB)]);
    expect(first.map((r) => r.decision.status).sort()).toEqual(['applied', 'blocked']);
    expect(first.find((r) => r.decision.status === 'blocked')?.decision.reasons).toEqual(['state_conflict']);

    // Again from an existing state: now the ifMatch write decides.
    await putFills(nas, 'b.jsonl', series(T0 + 3_600_000, 6), runs);
    a.clock.advance(1000);
    b.clock.advance(2000);
    const [planC, planD] = [await plan(a), await plan(b)];
    expect(planC.beforeEtag).not.toBeNull();
    expect(planC.beforeEtag).toBe(planD.beforeEtag);
    const second = await Promise.all([commit(a, planC), commit(b, planD)]);
    expect(second.map((r) => r.decision.status).sort()).toEqual(['applied', 'blocked']);
    const state = stateSchema.parse(JSON.parse((await nas.get(stateKey)).body.toString()));
    expect(state.evidence.fills_used).toBe(16);

    // Both outcomes are archived, and each host audited its own decision.
    const archived = await Promise.all([...first, ...second].map(async (r) => JSON.parse((await nas.get(r.archive_key!)).body.toString()).status));
    expect(archived.sort()).toEqual(['applied', 'applied', 'blocked', 'blocked']);
  });

  it('two whole runs at once: the new fills are applied exactly once', async () => {
    const { nas, a, b, runs, stateKey } = await twoHosts();
    await putFills(nas, 'a.jsonl', series(T0, 12), runs);
    b.clock.advance(5);
    const results = (await Promise.all([a.update(), b.update()])) as Array<{ decision: { status: string; reasons: string[] }; evidence: { fills_new: number } }>;
    const applied = results.filter((r) => r.decision.status === 'applied');
    expect(applied).toHaveLength(1);
    // The loser either lost the conditional write or (if it ran after) found nothing new.
    const other = results.find((r) => r !== applied[0])!;
    expect([['state_conflict'], ['no_new_fills']]).toContainEqual(other.decision.reasons);
    expect(stateSchema.parse(JSON.parse((await nas.get(stateKey)).body.toString())).evidence.fills_used).toBe(12);
  });
});
