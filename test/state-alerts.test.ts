// test/state-alerts.test.ts
// state_update_rollback alerts against a real local HTTP receiver: payload, retry, timeout, latency CSV, log lines.

import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listAll } from '../runtime/store/types.ts';
import { makeRuntime, putFills, series, T0, type TestRuntime } from './helpers/state-fixtures.ts';

interface Received {
  path: string;
  body: any;
}

/** A webhook receiver: /ok answers 200, /flaky 500 once then 200, /down always 500, /slow after 1.5 s. */
let server: Server;
let base = '';
let received: Received[] = [];
const flakyHits = new Map<string, number>();
beforeAll(async () => {
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const url = req.url ?? '/';
      received.push({ path: url, body: JSON.parse(data || 'null') });
      const reply = (status: number) => res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      if (url.startsWith('/ok')) reply(200);
      else if (url.startsWith('/flaky')) {
        const hits = (flakyHits.get(url) ?? 0) + 1;
        flakyHits.set(url, hits);
        reply(hits === 1 ? 500 : 200);
      } else if (url.startsWith('/slow')) setTimeout(() => reply(200), 1500);
      else reply(500);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const open: TestRuntime[] = [];
afterEach(async () => {
  received = [];
  await Promise.all(open.splice(0).map((t) => t.dispose()));
});

/** A runtime whose fills trip the VaR guard (losses of 50 pips against a cap of 20). */
async function withAnomaly(env: Record<string, string> = {}): Promise<TestRuntime> {
  const t = await makeRuntime({ env: { SIGNAL_WEBHOOK_URLS: pickable(), ...env } });
  open.push(t);
  await putFills(t.runtime.store, 'a.jsonl', series(T0, 10, 10, 50));
  return t;
}
/** Every receiver path the tests pick with alert_webhook: a run may only pick configured webhooks. */
const PICKABLE = ['/ok/T000/secret-token', '/flaky/1', '/down', '/slow', '/ok/flag', '/ok/x', '/ok/q', '/ok/f'];
const pickable = () => PICKABLE.map((p) => `${base}${p}`).join(',');
const ANOMALOUS = { var_cap: 20, alert_retry_delay_ms: 50 };
const logOf = (t: TestRuntime) => (existsSync(path.join(t.logsDir, 'state_alerts.log')) ? readFileSync(path.join(t.logsDir, 'state_alerts.log'), 'utf8') : '');
const csvOf = (t: TestRuntime) => {
  const file = path.join(t.logsDir, 'ops', 'state_alert_latency.csv');
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
};

describe('state update alerts', () => {
  it('anomaly → POSTs state_update_rollback with the decision; latency row and log line written; token path hidden', async () => {
    const t = await withAnomaly();
    const r = await t.update({ ...ANOMALOUS, alert_webhook: [`${base}/ok/T000/secret-token`] });
    expect(r.decision.status).toBe('blocked');
    expect(r.rollback_triggered).toBe(true);
    expect(r.alert).toMatchObject({ mode: 'auto', triggered: true, status: 'sent', targets: 1 });
    expect(r.alert.results).toEqual([expect.objectContaining({ ok: true, attempts: 1, http_status: 200 })]);

    expect(received).toHaveLength(1);
    expect(received[0]!.body).toMatchObject({
      signal_id: 'state_update_rollback',
      strategy: 'day_orb',
      symbol: 'BTC-USDT',
      mode: 'conservative',
      host: 'pc1',
      status: 'blocked',
      reasons: ['anomaly:var_cap_exceeded'],
      anomalies: [{ type: 'var_cap_exceeded', value: 50, cap: 20 }],
      risk: { var: 50, var_cap: 20 },
      archive_key: r.archive_key,
    });

    const csv = csvOf(t);
    expect(csv[0]).toBe('ts,signal_id,strategy,symbol,mode,url,attempt,outcome,http_status,latency_ms,error');
    expect(csv).toHaveLength(2);
    expect(csv[1]).toMatch(/^\d{4}-\d\d-\d\dT[^,]+,state_update_rollback,day_orb,BTC-USDT,conservative,http:\/\/127\.0\.0\.1:\d+\/…#[0-9a-f]{8},1,ok,200,\d+,$/);
    const log = logOf(t);
    expect(log).toMatch(/signal_id=state_update_rollback strategy=day_orb symbol=BTC-USDT mode=conservative anomalies=var_cap_exceeded status=sent url=\S+ attempts=1 http_status=200 latency_ms=\d+\n$/);
    expect(log + csv.join('\n') + JSON.stringify(r)).not.toContain('secret-token');
  });

  it('retries once on a 500: a flaky webhook is sent on the second attempt, a dead one fails after two', async () => {
    const t = await withAnomaly();
    const r = await t.update({ ...ANOMALOUS, alert_webhook: [`${base}/flaky/1`, `${base}/down`] });
    expect(received.map((x) => x.path).sort()).toEqual(['/down', '/down', '/flaky/1', '/flaky/1']);
    expect(r.alert.status).toBe('partial');
    const [flaky, down] = r.alert.results;
    expect(flaky).toMatchObject({ ok: true, attempts: 2, http_status: 200 });
    expect(down).toMatchObject({ ok: false, attempts: 2, http_status: 500, error: 'HTTP 500' });
    const rows = csvOf(t).slice(1).map((line) => line.split(','));
    expect(rows).toHaveLength(4);
    expect(rows.map((c) => `${c[5]}|${c[6]}|${c[7]}|${c[8]}`).sort()).toEqual(
      [`${flaky.url}|1|error|500`, `${flaky.url}|2|ok|200`, `${down.url}|1|error|500`, `${down.url}|2|error|500`].sort(),
    );
    expect(logOf(t)).toMatch(/status=failed url=\S+ attempts=2 http_status=500 latency_ms=\d+ error=HTTP_500/);
  });

  it('a webhook slower than the timeout counts as a failed attempt and is retried once', async () => {
    const t = await withAnomaly();
    const started = Date.now();
    const r = await t.update({ ...ANOMALOUS, alert_timeout_ms: 300, alert_webhook: [`${base}/slow`] });
    expect(r.alert.results[0]).toMatchObject({ ok: false, attempts: 2, http_status: null, error: 'timeout after 300 ms' });
    // Two 300 ms attempts, not two 1.5 s answers (generous margin for a loaded machine).
    expect(Date.now() - started).toBeLessThan(2900);
    expect(csvOf(t).slice(1).map((l) => l.split(',')[7])).toEqual(['error', 'error']);
  });

  it('SIGNAL_WEBHOOK_URLS is used when no --alert-webhook is given', async () => {
    const t = await withAnomaly({ SIGNAL_WEBHOOK_URLS: `${base}/ok/a, ${base}/ok/b` });
    const r = await t.update(ANOMALOUS);
    expect(received.map((x) => x.path).sort()).toEqual(['/ok/a', '/ok/b']);
    expect(r.alert).toMatchObject({ status: 'sent', targets: 2 });
  });

  it('an HTTP caller cannot name a webhook: an unconfigured alert_webhook is refused before anything is written or sent', async () => {
    const t = await withAnomaly({ SIGNAL_WEBHOOK_URLS: `${base}/ok/configured` });
    const keys = async () => {
      const out: string[] = [];
      for await (const o of listAll(t.runtime.store, 'state')) out.push(o.key);
      return out;
    };
    const before = await keys();
    const err = await t.update({ ...ANOMALOUS, alert_webhook: [`${base}/ok/attacker-chosen`] }).then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err).toMatchObject({ code: 'InvalidInput', message: expect.stringMatching(/not configured webhooks/) });
    expect(err!.message).not.toContain('attacker-chosen');
    expect(received).toEqual([]);
    expect(csvOf(t)).toEqual([]);
    expect(await keys()).toEqual(before);
  });

  it('no webhook configured → the fallback line, nothing sent, no latency rows', async () => {
    const t = await withAnomaly({ SIGNAL_WEBHOOK_URLS: '' });
    const r = await t.update(ANOMALOUS);
    expect(r.alert).toMatchObject({ triggered: true, status: 'fallback', targets: 0, results: [] });
    expect(r.rollback_triggered).toBe(true);
    expect(logOf(t)).toMatch(/signal_id=state_update_rollback .*anomalies=var_cap_exceeded status=fallback note=no_webhook_configured env_var=SIGNAL_WEBHOOK_URLS\n$/);
    expect(csvOf(t)).toEqual([]);
    expect(received).toEqual([]);
  });

  it('--alert-mode disable sends nothing and logs nothing, even on anomalies', async () => {
    const t = await withAnomaly({ SIGNAL_WEBHOOK_URLS: `${base}/ok/env,${base}/ok/flag` });
    const r = await t.update({ ...ANOMALOUS, alert_mode: 'disable', alert_webhook: [`${base}/ok/flag`] });
    expect(r.decision.status).toBe('blocked');
    expect(r.rollback_triggered).toBe(false);
    expect(r.alert).toMatchObject({ mode: 'disable', triggered: false, status: 'disabled', results: [] });
    expect(received).toEqual([]);
    expect(logOf(t)).toBe('');
    expect(csvOf(t)).toEqual([]);
  });

  it('dry run (and a run without --simulate-live) → only a status=preview line, nothing sent', async () => {
    const t = await withAnomaly();
    const auto = await t.update({ ...ANOMALOUS, dry_run: true, alert_webhook: [`${base}/ok/x`] });
    const force = await t.update({ dry_run: true, alert_mode: 'force', alert_webhook: [`${base}/ok/x`] });
    const reportOnly = await t.update({ ...ANOMALOUS, simulate_live: false, alert_webhook: [`${base}/ok/x`] });
    expect([auto.alert.status, force.alert.status, reportOnly.alert.status]).toEqual(['preview', 'preview', 'preview']);
    expect(auto.rollback_triggered).toBe(true);
    expect(received).toEqual([]);
    expect(csvOf(t)).toEqual([]);
    const lines = logOf(t).trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/ status=preview targets=1$/);
  });

  it('force sends without anomalies; auto without anomalies sends nothing', async () => {
    const t = await makeRuntime({ env: { SIGNAL_WEBHOOK_URLS: pickable() } });
    open.push(t);
    await putFills(t.runtime.store, 'a.jsonl', series(T0, 10));
    const quiet = await t.update({ dry_run: false, simulate_live: false, alert_webhook: [`${base}/ok/q`] });
    expect(quiet.alert).toMatchObject({ triggered: false, status: 'not_triggered' });
    expect(received).toEqual([]);
    const forced = await t.update({ alert_mode: 'force', alert_webhook: [`${base}/ok/f`] });
    expect(forced.decision.status).toBe('applied');
    expect(forced.rollback_triggered).toBe(true);
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toMatchObject({ signal_id: 'state_update_rollback', status: 'applied', anomalies: [] });
  });
});
