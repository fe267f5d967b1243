// test/start-stop.test.ts
// Stopping `npm start` the way a service manager does (SIGTERM to the top pid) stops the whole tree and frees lease, lock and port; so does --shutdown-file.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DATA_DIR_LOCK_NAME } from '../runtime/data-dir-lock.ts';
import { processAlive } from '../runtime/file-lock.ts';
import { freePort } from './helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(check: () => boolean | Promise<boolean>, what: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every process below `pid` (ps works on Linux and macOS). */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of rows) if (ppid === parent) found.push(child), walk(child);
  };
  walk(pid);
  return found;
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });

describe('stopping the runtime', () => {
  it.skipIf(process.platform === 'win32')('SIGTERM to `npm start` stops npm, the shell and node; the lease, the data-dir lock and the port are released', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-npmstart-'));
    const port = await freePort();
    let output = '';
    const npm: ChildProcess = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'),
        BTC_TS_HOST: 'svc',
        BTC_TS_PORT: String(port),
        BTC_TS_DATA_DIR: dir,
        BTC_TS_LOGS_DIR: path.join(dir, 'logs'),
        BTC_TS_LOG_JSON: '1',
        BTC_TS_HEARTBEAT_SECONDS: '1',
        BTC_TS_LEASE_SECONDS: '3',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    npm.stdout!.on('data', (d) => (output += d));
    npm.stderr!.on('data', (d) => (output += d));
    let tree: number[] = [];
    cleanups.push(() => {
      for (const pid of [npm.pid!, ...tree]) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });

    await waitFor(() => output.includes('"audit":"collector.leader.acquire"'), 'the lease', () => output, 45_000);
    tree = descendants(npm.pid!);
    expect(tree.length).toBeGreaterThanOrEqual(1); // sh and node (and tsx's esbuild service)
    const exited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    process.kill(npm.pid!, 'SIGTERM');
    await exited;
    await waitFor(() => tree.every((pid) => !processAlive(pid)), `every process of the tree (${tree.join(', ')}) to exit`, () => output, 20_000);
    expect(output).toContain('"audit":"collector.leader.release"');
    expect(existsSync(path.join(dir, DATA_DIR_LOCK_NAME))).toBe(false);
    expect(await portFree(port)).toBe(true);
  });

  it('--shutdown-file: the runtime stops cleanly (exit 0) when the file appears, and removes it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-shutfile-'));
    const shutdownFile = path.join(dir, 'stop-now');
    writeFileSync(shutdownFile, 'left from an earlier run'); // must not stop the fresh start
    let rt: RuntimeProcess | undefined;
    cleanups.push(async () => {
      await rt?.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    rt = await spawnRuntime({ host: 'filestop', dataDir: path.join(dir, 'data'), args: ['--shutdown-file', shutdownFile] });
    expect(existsSync(shutdownFile)).toBe(false);
    const child = rt.child;
    const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    writeFileSync(shutdownFile, '');
    expect(await exitCode).toBe(0);
    expect(rt.output()).toContain(`shutdown file ${shutdownFile} appeared`);
    expect(existsSync(shutdownFile)).toBe(false);
    expect(existsSync(path.join(dir, 'data', DATA_DIR_LOCK_NAME))).toBe(false);
    expect(await portFree(rt.port)).toBe(true);
  });
});
