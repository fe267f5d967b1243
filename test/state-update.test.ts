// test/state-update.test.ts
// State update decision paths: applied, dry run, each anomaly, override, fingerprint refusal, bad evidence, prune.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isBtcError } from '../runtime/errors.ts';
import { createApp } from '../runtime/http/app.ts';
import { loadConfig } from '../runtime/config.ts';
import { historicalVar } from '../runtime/state/guards.ts';
import { archivedDiffSchema, configFingerprint, stateSchema } from '../runtime/state/model.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';
import { freePort } from './helpers/minio.ts';
import { fill, makeRuntime, putFills, series, STRATEGY, T0, type TestRuntime } from './helpers/state-fixtures.ts';
import { OVERRIDE_KEY } from '../runtime/keys.ts';

const STATE_KEY = 'state/day_orb/BTC-USDT/conservative/state.json';
const open: TestRuntime[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.dispose()));
});
async function runtime(options?: Parameters<typeof makeRuntime>[0]): Promise<TestRuntime> {
  const t = await makeRuntime(options);
  open.push(t);
  return t;
}
async function readJson(store: ObjectStore, key: string): Promise<any> {
  return JSON.parse((await store.get(key)).body.toString());
}
async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isBtcError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}
const decisions = (t: TestRuntime) => t.runtime.audit.recentEvents(200).filter((e) => e.event === 'state.update.decision');

describe('state update', () => {
  it('conditions met → applied: state written with the estimates, diff archived, decision audited', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 10)); // 5 × +10 pips, 5 × −5 pips, 1 pip slippage each
    const r = await t.update({ max_delta: 0.5, var_cap: 10, liquidity_cap: 100 });

    expect(r.decision).toEqual({ status: 'applied', reasons: ['conditions_met'] });
    expect(r.anomalies).toEqual([]);
    expect(r.risk).toEqual({ var: 5, var_cap: 10, liquidity_usage: 10, liquidity_cap: 100 });
    // Beta(1,1) prior: p = (5+1)/(10+2) = 0.5; EV = 0.5·10 − 0.5·5 = 2.5 pips.
    expect(r.params_proposed).toEqual({ 'ev.open.win_rate': 0.5, 'ev.open.expected_pips': 2.5, 'slippage.BTC-USDT.ewma_pips': 1 });
    expect(r.diff.added.map((a: { param: string }) => a.param).sort()).toEqual(Object.keys(r.params_proposed).sort());

    const state = stateSchema.parse(await readJson(store, STATE_KEY));
    expect(state.config_fingerprint).toBe(r.config_fingerprint);
    expect(state.evidence).toEqual({ last_fill_ts: T0 + 9 * 60_000, fills_used: 10 });
    expect(state.ev_profile.open).toMatchObject({ wins: 5, losses: 5, mean_win_pips: 10, mean_loss_pips: 5 });
    expect(state.slippage['BTC-USDT']).toEqual({ ewma_pips: 1, samples: 10 });

    const archived = archivedDiffSchema.parse(await readJson(store, r.archive_key));
    expect(archived).toMatchObject({ status: 'applied', reason: ['conditions_met'], strategy: 'day_orb', host: 'pc1' });
    expect(r.archive_key).toMatch(/^state_archive\/day_orb\/BTC-USDT\/conservative\/\d{8}T\d{9}Z_diff\.json$/);
    expect(decisions(t)[0]?.payload).toMatchObject({ status: 'applied', reasons: ['conditions_met'], fills_new: 10 });
  });

  it('folds only fills newer than the state, and incrementally equals a full re-estimate', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 10));
    await t.update();
    await putFills(store, 'b.jsonl', [...series(T0 + 3_600_000, 6, 20, 4), fill({ ts: T0 + 7_200_000, pnl_pips: -8, gate_bucket: 'late' })]);
    t.clock.advance(60_000);
    const r = await t.update();
    expect(r.evidence).toMatchObject({ files: 2, fills_total: 17, fills_new: 7, since_ts: T0 + 9 * 60_000, until_ts: T0 + 7_200_000 });
    expect(r.decision.status).toBe('applied');
    expect(r.diff.added.map((a: { param: string }) => a.param).sort()).toEqual(['ev.late.expected_pips', 'ev.late.win_rate']);
    const batch = await t.update({ reset: true, dry_run: true });
    expect(batch.evidence.fills_new).toBe(17);
    expect(batch.params_proposed).toEqual(r.params_proposed);
    expect(stateSchema.parse(await readJson(store, STATE_KEY)).evidence.fills_used).toBe(17);
  });

  it('dry run → preview, nothing written (no state, no archive, no audit)', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 10));
    const r = await t.update({ dry_run: true });
    expect(r.decision).toEqual({ status: 'preview', reasons: ['dry_run'] });
    expect(r.archive_key).toBeNull();
    expect(r.params_proposed['ev.open.expected_pips']).toBe(2.5);
    expect(await store.head(STATE_KEY)).toBeNull();
    expect(await listKeys(store, 'state_archive/')).toEqual([]);
    expect(decisions(t)).toEqual([]);
    expect(existsSync(path.join(t.logsDir, 'state_alerts.log'))).toBe(false);
  });

  it('a dry run still names the anomalies it would block on', async () => {
    const t = await runtime();
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 10, 10, 40));
    const r = await t.update({ dry_run: true, var_cap: 20 });
    expect(r.decision).toEqual({ status: 'preview', reasons: ['dry_run', 'anomaly:var_cap_exceeded'] });
  });

  const anomalyCases: Array<[string, Record<string, unknown>, Array<Record<string, unknown>>, Record<string, unknown>]> = [
    // After the first apply (EV 2.5 pips), ten +30-pip wins move EV far more than 20 %.
    ['max_delta_exceeded', { max_delta: 0.2 }, series(T0 + 3_600_000, 10, 30, 30).map((f) => ({ ...f, pnl_pips: 30 })), { param: 'ev.open.expected_pips', cap: 0.2 }],
    ['var_cap_exceeded', { var_cap: 20 }, series(T0 + 3_600_000, 10, 10, 50), { value: 50, cap: 20 }],
    ['liquidity_cap_exceeded', { liquidity_cap: 10 }, series(T0 + 3_600_000, 10, 10, 5, { qty: 3 }), { value: 30, cap: 10 }],
  ];
  it.each(anomalyCases)('%s → blocked with its reason, state left as it was', async (type, caps, newFills, expected) => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 10));
    await t.update();
    const before = await store.head(STATE_KEY);
    await putFills(store, 'b.jsonl', newFills);
    t.clock.advance(60_000);
    const r = await t.update(caps);
    expect(r.decision.status).toBe('blocked');
    expect(r.decision.reasons).toEqual([`anomaly:${type}`]);
    expect(r.anomalies).toContainEqual(expect.objectContaining({ type, ...expected }));
    expect((await store.head(STATE_KEY))?.etag).toBe(before?.etag);
    expect(await readJson(store, r.archive_key)).toMatchObject({ status: 'blocked', reason: [`anomaly:${type}`] });
    expect(decisions(t)[0]?.payload).toMatchObject({ status: 'blocked' });
    // A blocked update consumes no evidence: the next run sees the same new fills.
    const again = await t.update({ dry_run: true });
    expect(again.evidence.fills_new).toBe(10);
  });

  it('override disabled → every run is a preview with override_disabled; enable resumes', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    const override = (input: Record<string, unknown>) => t.runtime.invoker.invoke('state-override', input) as Promise<any>;
    expect((await override({ action: 'status' })).current.status).toBe('enabled');
    const preview = await override({ action: 'disable', reason: 'maintenance', dry_run: true });
    expect(preview.current).toMatchObject({ status: 'disabled', reason: 'maintenance' });
    expect(await store.head(OVERRIDE_KEY)).toBeNull();

    const off = await override({ action: 'disable', reason: 'maintenance' });
    expect(off).toMatchObject({ changed: true, previous: { status: 'enabled' }, current: { status: 'disabled', reason: 'maintenance', actor: expect.any(String) } });
    expect(await readJson(store, OVERRIDE_KEY)).toMatchObject({ status: 'disabled', reason: 'maintenance' });
    expect(t.runtime.audit.recentEvents().find((e) => e.event === 'state.override.change')?.payload).toMatchObject({ from: 'enabled', to: 'disabled', reason: 'maintenance' });

    await putFills(store, 'a.jsonl', series(T0, 10, 10, 50));
    const r = await t.update({ var_cap: 20 });
    expect(r.decision).toEqual({ status: 'preview', reasons: ['override_disabled', 'anomaly:var_cap_exceeded'] });
    expect(r.override.status).toBe('disabled');
    expect(await store.head(STATE_KEY)).toBeNull();
    expect(await readJson(store, r.archive_key)).toMatchObject({ status: 'preview', reason: ['override_disabled', 'anomaly:var_cap_exceeded'] });

    await override({ action: 'enable', reason: 'resumed' });
    t.clock.advance(1000);
    expect((await t.update()).decision.status).toBe('applied');
  });

  it('fingerprint mismatch → load refused with a clear reason; --reset rebuilds from all fills', async () => {
    const a = await runtime();
    await putFills(a.runtime.store, 'a.jsonl', series(T0, 10));
    await a.update();
    const changed = { ...STRATEGY, model: { ...STRATEGY.model, slippageAlpha: 0.5 } };
    const b = await runtime({ primary: a.runtime.store.primary, strategies: { day_orb: changed }, host: 'pc2' });
    const before = await a.runtime.store.head(STATE_KEY);
    const err = await errorOf(b.update());
    expect(err.code).toBe('Conflict');
    expect(err.message).toMatch(/config_fingerprint mismatch for state\/day_orb\/BTC-USDT\/conservative\/state\.json/);
    expect(err.message).toMatch(/never reused after a config change.*--reset/);
    expect((await a.runtime.store.head(STATE_KEY))?.etag).toBe(before?.etag);

    const rebuilt = await b.update({ reset: true });
    expect(rebuilt.decision.status).toBe('applied');
    expect(rebuilt.evidence.fills_new).toBe(10);
    const state = stateSchema.parse(await readJson(a.runtime.store, STATE_KEY));
    expect(state.config_fingerprint).toBe(rebuilt.config_fingerprint);
    // Now the old config is the stranger: its runtime is refused in turn.
    expect((await errorOf(a.update())).code).toBe('Conflict');
  });

  it('a state of another version is refused too', async () => {
    const t = await runtime();
    await t.runtime.store.put(STATE_KEY, JSON.stringify({ version: 2, config_fingerprint: 'x' }));
    const err = await errorOf(t.update());
    expect(err).toMatchObject({ code: 'Conflict', message: expect.stringMatching(/state version 2, this build reads version 1/) });
  });

  it('a bad fill line is rejected with its line number and nothing is half-used', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 4));
    const bad = [JSON.stringify(fill({ ts: T0 + 1e6, pnl_pips: 3 })), '', JSON.stringify({ ...fill({ ts: T0 + 2e6, pnl_pips: 1 }), pnl_pips: 'abc' })].join('\n');
    await store.put('runs/day_orb/BTC-USDT/conservative/b.jsonl', bad);
    const err = await errorOf(t.update());
    expect(err.code).toBe('InvalidInput');
    expect(err.message).toMatch(/runs\/day_orb\/BTC-USDT\/conservative\/b\.jsonl line 3: pnl_pips:/);
    expect(await store.head(STATE_KEY)).toBeNull();
    expect(await listKeys(store, 'state_archive/')).toEqual([]);

    await store.put('runs/day_orb/BTC-USDT/conservative/b.jsonl', JSON.stringify({ ts: T0 + 1e6, side: 'buy', qty: 1, price: 1, expected_price: 1, pnl_pips: 2 }));
    expect((await errorOf(t.update())).message).toMatch(/b\.jsonl line 1: gate_bucket:/);
    await store.put('runs/day_orb/BTC-USDT/conservative/b.jsonl', '{"ts": 1,');
    expect((await errorOf(t.update())).message).toMatch(/b\.jsonl line 1: not valid JSON/);
  });

  it('an unreadable override flag counts as disabled', async () => {
    const t = await runtime();
    await t.runtime.store.put(OVERRIDE_KEY, '{"status": "paused"}');
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 4));
    const r = await t.update();
    expect(r.decision.reasons).toContain('override_disabled');
    expect(r.override.reason).toMatch(/unreadable state_archive\/auto_adjust_override\.json/);
  });

  it('with the primary down the update fails (Unavailable) and writes nothing to the cache', async () => {
    const closed = await freePort(); // nothing listens there: connection refused, like a NAS that is off
    const primary = createS3Store({ endpoint: `http://127.0.0.1:${closed}`, bucket: 'btc-ts', accessKeyId: 'k', secretAccessKey: 'secret-k', requestTimeoutMs: 500, maxAttempts: 1 });
    const t = await runtime({ primary });
    const err = await errorOf(t.update());
    expect(err.code).toBe('Unavailable');
    expect(await listKeys(t.runtime.store.cache, 'state')).toEqual([]);
  });

  it('no new fills → preview (no_new_fills); without --simulate-live → preview (simulate_live_off)', async () => {
    const t = await runtime();
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 4));
    expect((await t.update({ simulate_live: false })).decision).toEqual({ status: 'preview', reasons: ['simulate_live_off'] });
    expect(await t.runtime.store.head(STATE_KEY)).toBeNull();
    await t.update();
    t.clock.advance(1000);
    const r = await t.update();
    expect(r.decision).toEqual({ status: 'preview', reasons: ['no_new_fills'] });
    expect(r.risk).toMatchObject({ var: null, liquidity_usage: 0 });
  });

  it('guard defaults come from the strategy config; a flag overrides them', async () => {
    const t = await runtime({ strategies: { day_orb: { ...STRATEGY, guards: { varCap: 20, liquidityCap: 100 } } } });
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 10, 10, 50));
    const byConfig = await t.update({ dry_run: true });
    expect(byConfig.risk).toMatchObject({ var_cap: 20, liquidity_cap: 100 });
    expect(byConfig.decision.reasons).toEqual(['dry_run', 'anomaly:var_cap_exceeded']);
    const byFlag = await t.update({ dry_run: true, var_cap: 60 });
    expect(byFlag.risk.var_cap).toBe(60);
    expect(byFlag.anomalies).toEqual([]);
  });

  it('unknown strategy and missing defaults are clear input errors', async () => {
    const t = await runtime({ strategies: { a: { model: STRATEGY.model }, b: { model: STRATEGY.model } } });
    expect((await errorOf(t.update())).message).toMatch(/several strategies are configured \(a, b\): name one with --strategy/);
    expect((await errorOf(t.update({ strategy: 'zz' }))).message).toMatch(/unknown strategy zz; configured: a, b/);
    expect((await errorOf(t.update({ strategy: 'a' }))).message).toMatch(/no default symbol: pass --symbol/);
  });

  it('prune keeps the newest N diffs per strategy/symbol/mode; dry run removes nothing', async () => {
    const t = await runtime();
    const store = t.runtime.store;
    await putFills(store, 'a.jsonl', series(T0, 4));
    for (let i = 0; i < 4; i++) {
      await t.update();
      t.clock.advance(1000);
    }
    await store.put('state_archive/other/ETH-USDT/live/20260101T000000000Z_diff.json', '{}');
    await store.put(OVERRIDE_KEY, JSON.stringify({ status: 'enabled', reason: 'x', at: null, actor: null }));
    const all = (await listKeys(store, 'state_archive/day_orb/')).sort();
    expect(all).toHaveLength(4);

    const dry = (await t.runtime.invoker.invoke('state-prune', { keep: 2, dry_run: true })) as any;
    expect(dry.removed_total).toBe(2);
    expect(dry.groups.find((g: any) => g.prefix === 'state_archive/day_orb/BTC-USDT/conservative/')).toMatchObject({ total: 4, kept: [all[3], all[2]], removed: [all[1], all[0]] });
    expect(await listKeys(store, 'state_archive/day_orb/')).toHaveLength(4);

    const real = (await t.runtime.invoker.invoke('state-prune', { keep: 2 })) as any;
    expect(real.removed_total).toBe(2);
    expect((await listKeys(store, 'state_archive/day_orb/')).sort()).toEqual([all[2], all[3]]);
    expect(await store.head(OVERRIDE_KEY)).not.toBeNull();
    expect(await listKeys(store, 'state_archive/other/')).toHaveLength(1);
    expect(t.runtime.audit.recentEvents().find((e) => e.event === 'state.archive.prune')?.payload).toMatchObject({ keep: 2, removed: 2 });
  });
});

describe('state functions over HTTP', () => {
  it('POST /fn/state-update answers the decision; a refused state is 409, a bad fill 400', async () => {
    const t = await runtime();
    const app = createApp(t.runtime);
    const post = (name: string, body: unknown) => app.request(`/fn/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 4));
    const ok = await post('state-update', { simulate_live: true, var_cap: 100 });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).result.decision.status).toBe('applied');
    expect((await post('state-update', { simulate_live: 'yes' })).status).toBe(400);

    await t.runtime.store.put(STATE_KEY, JSON.stringify({ version: 1, config_fingerprint: 'f'.repeat(64) }));
    const refused = await post('state-update', { simulate_live: true });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as any).message).toMatch(/config_fingerprint mismatch/);
    await t.runtime.store.put('runs/day_orb/BTC-USDT/conservative/z.jsonl', 'nope\n');
    expect((await post('state-update', { simulate_live: true, reset: true })).status).toBe(400);
  });
});

describe('strategies config', () => {
  it('a bad strategy entry is a config error naming the key; the fingerprint ignores key order', () => {
    const bad = { strategies: { day_orb: { model: { ...STRATEGY.model, slippageAlpha: 2 }, colour: 'red' } } };
    expect(() => loadConfig({ env: {}, overrides: bad })).toThrow(/strategies\.day_orb\.model\.slippageAlpha: .*strategies\.day_orb\.colour: unknown key/s);
    const reordered = { model: { slippageAlpha: 0.2, evPrior: { losses: 1, wins: 1 }, pipSize: 0.01 } };
    expect(configFingerprint(reordered)).toBe(configFingerprint(STRATEGY));
    expect(configFingerprint({ model: { ...STRATEGY.model, pipSize: 0.1 } })).not.toBe(configFingerprint(STRATEGY));
  });
});

describe('historical VaR', () => {
  it('is minus the ⌈5 %·n⌉-th worst pnl', () => {
    const pnl = Array.from({ length: 100 }, (_, i) => i - 10); // −10 … 89
    expect(historicalVar(pnl)).toBe(6); // 5th worst is −6
    expect(historicalVar([3, -2, 8])).toBe(2);
    expect(historicalVar([4, 5])).toBe(-4); // even the worst trade won: a negative loss
    expect(historicalVar([])).toBeNull();
  });
});
