// test/config.test.ts
// Config loading: layers, env overrides, errors that name the bad key, secrets kept apart.

import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMasker } from '../runtime/secrets.ts';
import { loadConfig } from '../runtime/config.ts';
import { BtcError } from '../runtime/errors.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-config-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BtcError);
    return (err as BtcError).message;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('layers defaults ← file ← env', () => {
    const f = file('ok.yaml', 'site: tokyo\nlease:\n  leaseSeconds: 20\n  heartbeatSeconds: 4\n');
    const { config } = loadConfig({ file: f, env: { BTC_TS_SITE: 'osaka', BTC_TS_PORT: '9999', SIGNAL_WEBHOOK_URLS: 'http://a.example/x, http://b.example/y' } });
    expect(config.site).toBe('osaka');
    expect(config.lease).toEqual({ leaseSeconds: 20, heartbeatSeconds: 4 });
    expect(config.http.port).toBe(9999);
    expect(config.http.host).toBe('127.0.0.1');
    expect(config.alerts.webhookUrls).toEqual(['http://a.example/x', 'http://b.example/y']);
  });

  it('names an unknown key in the file', () => {
    const f = file('unknown.yaml', 'storage:\n  probe:\n    everySecond: 5\n');
    expect(errorOf(() => loadConfig({ file: f, env: {} }))).toMatch(
      /storage\.probe\.everySecond: unknown key \(did you mean storage\.probe\.everySeconds\?\) \(from .*unknown\.yaml:3:5\)/,
    );
  });

  it('names the file and line of a top-level typo, never the (empty) environment', () => {
    const f = file('typo.yaml', 'site: a\n\nleese:\n  leaseSeconds: 20\n');
    const message = errorOf(() => loadConfig({ file: f, env: {} }));
    expect(message).toMatch(/leese: unknown key \(did you mean lease\?\) \(from .*typo\.yaml:3:1\)/);
    expect(message).not.toContain('environment');
  });

  it('names a bad value and says it came from the environment', () => {
    expect(errorOf(() => loadConfig({ file: file('empty.yaml', ''), env: { BTC_TS_PORT: 'eighty' } }))).toMatch(/http\.port: .*\(from environment BTC_TS_PORT\)/);
    expect(errorOf(() => loadConfig({ file: file('empty2.yaml', ''), env: { BTC_TS_MODE: 'turbo' } }))).toMatch(/^config error: mode: /);
  });

  it('refuses a lease not longer than two heartbeats', () => {
    expect(errorOf(() => loadConfig({ file: file('e3.yaml', ''), env: { BTC_TS_LEASE_SECONDS: '10', BTC_TS_HEARTBEAT_SECONDS: '5' } }))).toMatch(
      /lease\.leaseSeconds: leaseSeconds \(10\) must be more than 2 × lease\.heartbeatSeconds \(5\)/,
    );
  });

  it('rejects invalid YAML and a missing file clearly', () => {
    expect(errorOf(() => loadConfig({ file: file('bad.yaml', 'a: [1, 2'), env: {} }))).toMatch(/not valid YAML/);
    expect(errorOf(() => loadConfig({ file: path.join(dir, 'nope.yaml'), env: {} }))).toMatch(/cannot read .*nope\.yaml: ENOENT/);
  });

  it('keeps secrets out of the config and requires S3 credentials with an endpoint', () => {
    const session = 'FwoGZXIvYXdzEXAMPLEsessiontoken0123456789';
    const env = { BTC_TS_S3_ENDPOINT: 'http://127.0.0.1:9', BTC_TS_S3_ACCESS_KEY: 'AKIAEXAMPLE', BTC_TS_S3_SECRET_KEY: 'very-secret-value', BTC_TS_S3_SESSION_TOKEN: session, BTC_TS_API_TOKEN: 'tok-123456-abcdefghijklmnopqrstuvwxyz' };
    const loaded = loadConfig({ file: file('s3.yaml', ''), env });
    expect(JSON.stringify(loaded.config)).not.toMatch(/very-secret-value|AKIAEXAMPLE|tok-123456|FwoGZXIv/);
    expect(loaded.secrets.BTC_TS_S3_SECRET_KEY).toBe('very-secret-value');
    // The session token of temporary credentials is a secret too: masked wherever it could appear.
    expect(loaded.secrets.BTC_TS_S3_SESSION_TOKEN).toBe(session);
    expect(createMasker(loaded.secrets).text(`x-amz-security-token: ${session}`)).not.toContain(session);
    expect(errorOf(() => loadConfig({ file: file('s3b.yaml', ''), env: { BTC_TS_S3_ENDPOINT: 'http://127.0.0.1:9' } }))).toMatch(/BTC_TS_S3_ACCESS_KEY/);
  });

  it('refuses an API token shorter than 32 characters, without echoing it', () => {
    const message = errorOf(() => loadConfig({ file: file('tok.yaml', ''), env: { BTC_TS_API_TOKEN: 'short-token-123' } }));
    expect(message).toMatch(/BTC_TS_API_TOKEN is 15 characters; use at least 32/);
    expect(message).not.toContain('short-token-123');
    expect(loadConfig({ file: file('tok2.yaml', ''), env: { BTC_TS_API_TOKEN: 'x'.repeat(32) } }).secrets.BTC_TS_API_TOKEN).toHaveLength(32);
  });
});
