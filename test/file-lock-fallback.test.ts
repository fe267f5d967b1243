// test/file-lock-fallback.test.ts
// Locks on a file system without hard links (a real exFAT mount, and forced on ext4/overlay): directory locks, just as exclusive; whatif says which kind is in use.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DATA_DIR_LOCK_NAME } from '../runtime/data-dir-lock.ts';
import { acquireFileLock, describeLockKind, detectLockKind, LOCK_KIND_ENV, lockKindIn, ownerFiles } from '../runtime/file-lock.ts';
import { mountExfat, type ExfatMount } from './helpers/exfat.ts';
import { runCli } from './helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';
import { defaultShutdownFile } from '../runtime/cli/stop-requests.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Starts a process that takes `lock` and holds it until killed; resolves once it holds it. */
function holder(lock: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['bin/tsnode.mjs', 'test/helpers/lock-holder-worker.ts', lock], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const held = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  held.catch(() => undefined);
  return { child, held, gone: new Promise((resolve) => child.once('exit', resolve)) };
}

const children: Array<ReturnType<typeof holder>> = [];
const savedKind = process.env[LOCK_KIND_ENV];
afterEach(async () => {
  for (const h of children.splice(0)) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL'), await h.gone;
  if (savedKind === undefined) delete process.env[LOCK_KIND_ENV];
  else process.env[LOCK_KIND_ENV] = savedKind;
});

describe('file locks on exFAT (a real file system without hard links)', () => {
  let usb: ExfatMount;
  beforeAll(async () => {
    usb = await mountExfat();
  }, 900_000); // the first run may apt-get install exfatprogs and exfat-fuse
  afterAll(async () => {
    await usb?.dispose();
  });

  it('the probe finds no hard links there, and hard links on the ordinary temp folder', async () => {
    expect(await detectLockKind(usb.dir)).toBe('directory');
    expect(await detectLockKind(os.tmpdir())).toBe('hardlink');
    expect(readdirSync(usb.dir).filter((n) => n.startsWith('.lock-probe-'))).toEqual([]); // the probe cleans up
  });

  it('a lock there is a directory while held and exclusive; no owner file is left behind', async () => {
    const dir = mkdtempSync(path.join(usb.dir, 'locks '));
    const lock = path.join(dir, 'l');
    const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 1_000 });
    expect(lockKindIn(dir)).toBe('directory');
    expect(statSync(lock).isDirectory()).toBe(true);
    expect(ownerFiles(dir)).toEqual([]);
    await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 300, what: 'k' })).rejects.toThrow(/lock on k not released/);
    await release();
    expect(existsSync(lock)).toBe(false);
    // Twenty waiters in one process never hold it at once.
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const r = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 20_000 });
        most = Math.max(most, ++inside);
        await new Promise((res) => setTimeout(res, 2));
        inside--;
        await r();
      }),
    );
    expect(most).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a live process holding it there is respected; once it is killed, its lock is taken over at once', { timeout: 60_000 }, async () => {
    const lock = path.join(mkdtempSync(path.join(usb.dir, 'locks ')), 'l');
    const h = holder(lock);
    children.push(h);
    await h.held;
    await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 400 })).rejects.toThrow(/not released/);
    h.child.kill('SIGKILL');
    await h.gone;
    const started = Date.now();
    const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    await release();
  });

  it('the data-directory lock works there: a second start is refused naming the first, release frees it', async () => {
    const dataDir = path.join(usb.dir, 'data dir ü');
    const first = await acquireDataDirLock(dataDir, { host: 'pc-a', port: 8787 });
    try {
      // The lock names this (live) process; a real second process tries to start on the same folder.
      const run = await runCli(['start'], { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'pc-b' });
      expect(run.code).toBe(2);
      expect(run.stderr + run.stdout).toMatch(new RegExp(`another runtime \\(pid ${process.pid}, port 8787, host pc-a\\)`));
    } finally {
      await first.release();
    }
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_NAME))).toBe(false);
    expect(readdirSync(dataDir).filter((n) => n.startsWith(DATA_DIR_LOCK_NAME))).toEqual([]); // no private files left
  });

  it('runtime whatif on a data directory there says directory locks are in use, and passes that check', { timeout: 90_000 }, async () => {
    const dataDir = path.join(usb.dir, 'whatif data');
    const run = await runCli(['whatif', '--json'], { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'usb' });
    const report = JSON.parse(run.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> };
    const locks = report.checks.find((c) => c.check === 'file locks');
    expect(locks).toMatchObject({ ok: true, detail: `directory locks in ${dataDir}: this file system has no hard links (FAT32, exFAT, an SMB share?)` });
    // The embedded store in that data directory took its locks there too: its checks passed.
    expect(report.checks.find((c) => c.check === 'primary reachable')).toMatchObject({ ok: true });
  });
});

describe('a real runtime on exFAT', () => {
  let usb: ExfatMount | undefined;
  let rt: RuntimeProcess | undefined;
  afterAll(async () => {
    await rt?.stop();
    await usb?.dispose();
  });

  it('runtime start --demo with its data directory there logs directory locks, collects and ships trades, and stops on the stop file', { timeout: 180_000 }, async () => {
    usb = await mountExfat();
    const dataDir = path.join(usb.dir, 'btc data');
    rt = await spawnRuntime({ host: 'usb-pc', dataDir, args: ['--demo'], env: { BTC_TS_S3_ENDPOINT: '' } });
    expect(rt.output()).toContain(`directory locks in ${dataDir}: this file system has no hard links`);
    const trades = path.join(dataDir, 'nas', 'raw', 'binance', 'trades', 'BTC-USDT');
    const deadline = Date.now() + 60_000;
    const shipped = () => existsSync(trades) && (readdirSync(trades, { recursive: true }) as string[]).some((f) => f.endsWith('.jsonl'));
    while (!shipped() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(shipped(), rt.output().slice(-3000)).toBe(true);
    expect(rt.output()).not.toMatch(/"level":50/); // no error logged
    const exited = new Promise<number | null>((resolve) => rt!.child.once('exit', (code) => resolve(code)));
    writeFileSync(defaultShutdownFile(dataDir), '');
    expect(await exited).toBe(0);
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_NAME))).toBe(false);
  });
});

describe('file locks forced to directories (BTC_TS_LOCK_KIND=directory) on a file system that has hard links', () => {
  it('a directory lock and a hard-link lock on the same name exclude each other, both ways', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-lock-mixed-'));
    const lock = path.join(dir, 'l');
    try {
      // A process using hard links holds it: this one, forced to directories, waits.
      const h = holder(lock);
      children.push(h);
      await h.held;
      expect(statSync(lock).isFile()).toBe(true);
      process.env[LOCK_KIND_ENV] = 'directory';
      await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 300 })).rejects.toThrow(/not released/);
      h.child.kill('SIGKILL');
      await h.gone;
      // The dead hard-link holder's lock is taken over by the directory kind.
      const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 5_000 });
      expect(statSync(lock).isDirectory()).toBe(true);
      // Now a hard-link process waits for this directory lock until it is released.
      const h2 = holder(lock, { [LOCK_KIND_ENV]: 'auto' });
      children.push(h2);
      const heldEarly = await Promise.race([h2.held.then(() => true), new Promise((r) => setTimeout(() => r(false), 1_500))]);
      expect(heldEarly).toBe(false);
      await release();
      await h2.held;
      expect(statSync(lock).isFile()).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a directory lock that names nobody (a crash between mkdir and its owner file) is taken over once older than staleMs', async () => {
    process.env[LOCK_KIND_ENV] = 'directory';
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-lock-empty-'));
    const lock = path.join(dir, 'l');
    try {
      mkdirSync(lock);
      await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 200 })).rejects.toThrow(/not released/);
      const old = (Date.now() - 120_000) / 1000;
      utimesSync(lock, old, old);
      const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 2_000 });
      expect(readdirSync(lock)).toEqual(['owner']);
      await release();
      expect(existsSync(lock)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an empty runtime.lock left by a crash in the exclusive-create fallback is taken over once a few seconds old', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ddlock-empty-'));
    try {
      const lockPath = path.join(dataDir, DATA_DIR_LOCK_NAME);
      writeFileSync(lockPath, '');
      const old = (Date.now() - 60_000) / 1000;
      utimesSync(lockPath, old, old);
      const lock = await acquireDataDirLock(dataDir, { host: 'pc-a', port: 8787 });
      expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid, host: 'pc-a' });
      await lock.release();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('whatif\'s line names the kind and the override; a bad value is refused', () => {
    process.env[LOCK_KIND_ENV] = 'directory';
    expect(describeLockKind(lockKindIn('/x'), '/x')).toBe(`directory locks in /x (forced by ${LOCK_KIND_ENV})`);
    delete process.env[LOCK_KIND_ENV];
    expect(describeLockKind('hardlink', '/x')).toBe('hard-link locks in /x');
    process.env[LOCK_KIND_ENV] = 'symlink';
    expect(() => lockKindIn('/x')).toThrow(/must be auto, hardlink or directory, not "symlink"/);
  });

  it('runtime start with a bad BTC_TS_LOCK_KIND is refused with exit 2 and leaves no lock behind', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-lockkind-'));
    try {
      const run = await runCli(['start'], { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'bad-kind', [LOCK_KIND_ENV]: 'symlink', BTC_TS_PORT: '0' });
      expect(run.code).toBe(2);
      expect(run.stderr + run.stdout).toContain(`${LOCK_KIND_ENV} must be auto, hardlink or directory, not "symlink"`);
      expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_NAME))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
