// test/e2e/handoff-http.test.ts
// A real `runtime start`: DEBUG until preflight passes then PROD (audited); POST /fn/handoff with Accept: application/zip answers a valid bundle.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundle } from '../../runtime/handoff/read.ts';
import { freePort } from '../helpers/minio.ts';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const API_TOKEN = 'e2e-api-token-0b7d2c61-9f8e7d6c5b4a';

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The router writes to the FsStore primary (nas/) or, when a probe timed out on this busy
 * machine, to the cache (cache/); both are where the runtime put it.
 */
const STORE_ROOTS = ['nas', 'cache'];

/** Every audit event this runtime shipped. */
function shippedAudit(dataDir: string): Array<{ event: string; payload: Record<string, unknown> }> {
  const roots = STORE_ROOTS.map((r) => path.join(dataDir, r, 'audit')).filter((d) => existsSync(d));
  const files = roots.flatMap((root) => readdirSync(root, { recursive: true, withFileTypes: true })).filter((d) => d.isFile() && d.name.endsWith('.jsonl'));
  return files.flatMap((f) =>
    readFileSync(path.join(f.parentPath, f.name), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
}

describe('runtime start: modes and the handoff over HTTP', () => {
  let rt: RuntimeProcess;
  const auth = { authorization: `Bearer ${API_TOKEN}` };

  beforeAll(async () => {
    rt = await spawnRuntime({ host: 'pc-handoff', env: { BTC_TS_API_TOKEN: API_TOKEN } });
  });
  afterAll(async () => {
    await rt?.dispose();
  });

  it('starts in DEBUG and goes PROD once preflight passes, audited as runtime.mode.change', async () => {
    // Preflight retries every 15 s; on a loaded machine a probe may time out once, so allow a few rounds.
    await waitFor('PROD', async () => ((await rt.get<{ mode: string }>('/health')).mode === 'PROD' ? true : undefined), 90_000).catch((err: Error) => {
      throw new Error(`${err.message}; preflight lines:\n${rt.output().split('\n').filter((l) => l.includes('preflight')).join('\n')}`);
    });
    const change = await waitFor('the shipped mode change', async () => shippedAudit(rt.dataDir).find((e) => e.event === 'runtime.mode.change'));
    expect(change.payload).toEqual({ from: 'DEBUG', to: 'PROD', reason: 'preflight passed' });
  }, 180_000);

  it('answers the zip itself on Accept: application/zip; it is a valid bundle, stored and audited with its sha256', async () => {
    const res = await fetch(`${rt.url}/fn/handoff`, { method: 'POST', headers: { accept: 'application/zip', 'content-type': 'application/json', ...auth }, signal: AbortSignal.timeout(60_000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const filename = /filename="(Handoff_\d{8}_\d{4}(?:_\d+)?\.zip)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
    expect(filename).toBeDefined();
    const bytes = Buffer.from(await res.arrayBuffer());
    const sha256 = createHash('sha256').update(bytes).digest('hex');

    const bundle = await readBundle(bytes, sha256);
    expect(bundle.manifest).toMatchObject({ host: 'pc-handoff', mode: 'PROD' });
    expect(bundle.files).toContain('repo/functions/handoff.ts');
    // The project's own roadmap travels as a source file, never as the operator's handover.
    expect(bundle.files).toContain('repo/docs/roadmap.md');
    expect(bundle.files).not.toContain('repo/docs/handover.md');
    expect(bundle.context.next_tasks).toEqual([]);
    expect(bytes.includes(Buffer.from(API_TOKEN))).toBe(false);

    const stored = STORE_ROOTS.map((r) => path.join(rt.dataDir, r, 'handoff', filename!)).find((f) => existsSync(f));
    expect(stored && readFileSync(stored).equals(bytes)).toBe(true);
    const event = await waitFor('the shipped bundle event', async () =>
      shippedAudit(rt.dataDir).find((e) => e.event === 'handover.bundle.create' && e.payload.key === `handoff/${filename}`),
    );
    expect(event.payload).toMatchObject({ sha256, bytes: bytes.length });

    // The downloaded file loads with the CLI, like `curl … -o h.zip && runtime handoff load h.zip`.
    const file = path.join(rt.dataDir, 'h.zip');
    writeFileSync(file, bytes);
    const load = await runCli(['handoff', 'load', file], { BTC_TS_DATA_DIR: rt.dataDir, BTC_TS_LOGS_DIR: path.join(rt.dataDir, 'logs') });
    expect(load.code).toBe(0);
    expect(load.stdout).toMatch(/mode\s+PROD/);
    expect(load.stdout).toContain('next tasks:');
  }, 180_000);

  it('answers JSON without the Accept header, serves `runtime handoff make`, and 401 without the token', async () => {
    const res = await fetch(`${rt.url}/fn/handoff`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{}', signal: AbortSignal.timeout(60_000) });
    const body = (await res.json()) as { ok: boolean; result: Record<string, unknown> };
    expect(res.status).toBe(200);
    expect(body.result).toMatchObject({ key: expect.stringMatching(/^handoff\/Handoff_/), bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // No rp tag here: this runtime's repository is the real one (rp via handoff is tested on a temporary repo).
    expect(body.result.restore_point).toBeNull();
    expect(body.result).not.toHaveProperty('contentType');

    // `runtime handoff make` on this PC goes through the running runtime (one in-flight run per PC).
    const outDir = path.join(rt.dataDir, 'out');
    mkdirSync(outDir);
    const made = await runCli(['handoff', 'make', '--out', outDir], {
      BTC_TS_HOST: rt.host,
      BTC_TS_PORT: String(rt.port),
      BTC_TS_API_TOKEN: API_TOKEN,
      BTC_TS_DATA_DIR: path.join(rt.dataDir, 'cli'),
      BTC_TS_LOGS_DIR: path.join(rt.dataDir, 'cli', 'logs'),
    });
    expect(made.code).toBe(0);
    const summary = JSON.parse(made.stdout) as { key: string; sha256: string; via?: string };
    expect(summary.via).toBe(rt.url);
    const written = readFileSync(path.join(outDir, path.basename(summary.key)));
    expect((await readBundle(written, summary.sha256)).manifest.host).toBe(rt.host);

    const denied = await fetch(`${rt.url}/fn/handoff`, { method: 'POST', headers: { accept: 'application/zip' } });
    expect(denied.status).toBe(401);
  }, 180_000);
});

describe('runtime start with an unreachable primary', () => {
  it('stays in DEBUG (no collection writes) while preflight fails', async () => {
    const deadPort = await freePort();
    const rt = await spawnRuntime({
      host: 'pc-nas-down',
      env: { BTC_TS_S3_ENDPOINT: `http://127.0.0.1:${deadPort}`, BTC_TS_S3_ACCESS_KEY: 'deadkey1', BTC_TS_S3_SECRET_KEY: 'deadsecret1' },
    });
    try {
      await waitFor('the failed preflight in the log', async () => (/preflight: \d+ check\(s\) failed; staying in DEBUG/.test(rt.output()) ? true : undefined));
      expect((await rt.get<{ mode: string }>('/health')).mode).toBe('DEBUG');
    } finally {
      await rt.dispose();
    }
  });
});
