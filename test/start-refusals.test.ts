// test/start-refusals.test.ts
// `runtime start` as a real process: a config typo, a taken port, a shared data dir and a shared host name are refused or reported clearly.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_NAME } from '../runtime/data-dir-lock.ts';
import { freePort } from './helpers/minio.ts';
import { runCli } from './helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function runtime(options: Parameters<typeof spawnRuntime>[0]): Promise<RuntimeProcess> {
  const rt = await spawnRuntime(options);
  cleanups.push(() => rt.dispose());
  return rt;
}

/** Polls until `check` holds; the output is in the failure message. */
async function waitFor(check: () => boolean, what: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function dataDirEnv(dir: string, port: number): Record<string, string> {
  return { BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_PORT: String(port), BTC_TS_LOG_JSON: '1' };
}

describe('runtime start refusals', () => {
  it('names config/app.yaml:LINE and the key of a top-level typo, not the environment (exit 2)', async () => {
    const cwd = tempDir('btc-ts-typo-');
    mkdirSync(path.join(cwd, 'config'));
    writeFileSync(path.join(cwd, 'config/app.yaml'), '# a comment\nsite: here\n\nleese:\n  leaseSeconds: 20\n');
    const run = await runCli(['start', '--config', 'config/app.yaml'], { ...dataDirEnv(path.join(cwd, 'data'), await freePort()) }, cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/leese: unknown key \(did you mean lease\?\) \(from config\/app\.yaml:4:1\)/);
    expect(run.stderr).not.toContain('environment');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a taken port: says so, how to check and how to pick another; exit 2; nothing left running (--demo)', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as net.AddressInfo).port;
    const dir = tempDir('btc-ts-port-');
    // runCli waits for the exit: a scheduler, emulator or audit timer left alive would hold the process until its timeout.
    const started = Date.now();
    const run = await runCli(['start', '--demo'], dataDirEnv(dir, port));
    expect(run.code).toBe(2);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(run.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(run.stderr).toContain(`curl http://127.0.0.1:${port}/health`);
    expect(run.stderr).toMatch(/--port P.*BTC_TS_PORT=P/);
    expect(run.stderr).not.toMatch(/^\s+at /m); // no stack
    expect(existsSync(path.join(dir, DATA_DIR_LOCK_NAME))).toBe(false);
  });

  it('refuses a second runtime on the same data directory, naming pid and port (exit 2); a dead holder is taken over', async () => {
    const dir = tempDir('btc-ts-shared-');
    const first = await runtime({ host: 'pc-one', dataDir: dir });
    const second = await runCli(['start'], { ...dataDirEnv(dir, await freePort()), BTC_TS_HOST: 'pc-two' });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`another runtime (pid ${first.child.pid}, port ${first.port}, host pc-one) is using this data directory ${dir}`);
    expect((await first.get<{ host: string }>('/health')).host).toBe('pc-one'); // the first one is untouched

    // kill -9 leaves the lock behind with a dead pid: the next start takes it over.
    await first.kill9();
    expect(existsSync(path.join(dir, DATA_DIR_LOCK_NAME))).toBe(true);
    await first.restart();
    expect((await first.get<{ host: string }>('/health')).host).toBe('pc-one');
    await first.stop();
    expect(existsSync(path.join(dir, DATA_DIR_LOCK_NAME))).toBe(false); // released on a clean stop
  });

  it('two runtimes with one BTC_TS_HOST on one primary: the status writer gives them away (error log + runtime.host.duplicate)', async () => {
    const nas = tempDir('btc-ts-twin-nas-');
    const env = { BTC_TS_FS_PRIMARY_DIR: nas };
    const a = await runtime({ host: 'twin', env });
    const b = await runtime({ host: 'twin', env });
    const saw = (rt: RuntimeProcess) => rt.output().includes('"event":"runtime.host.duplicate"');
    await waitFor(() => saw(a) || saw(b), 'a duplicate host report', () => a.output() + b.output());
    const reporter = saw(a) ? a : b;
    expect(reporter.output()).toMatch(/"level":50.*another runtime \(pid \d+, writer [0-9a-f]+\) writes the status of host \\?"twin\\?"/);
    expect(reporter.output()).toContain('"audit":"runtime.host.duplicate"');
  });

  it('warns at start that no stream is configured', async () => {
    const rt = await runtime({ host: 'empty' });
    await waitFor(() => rt.output().includes('no stream is configured'), 'the no-stream warning', rt.output);
    expect(rt.output()).toMatch(/"level":40[^\n]*no stream is configured[^\n]*--demo/);
  });
});
