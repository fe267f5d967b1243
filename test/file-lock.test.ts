// test/file-lock.test.ts
// The inter-process lock: a crashed owner's lock is taken over at once, a live owner's lock is respected.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireFileLock, ownerFiles } from '../runtime/file-lock.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Starts a process that takes `lock` and holds it until killed. */
async function holder(lock: string) {
  const child = spawn(process.execPath, ['bin/tsnode.mjs', 'test/helpers/lock-holder-worker.ts', lock], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return child;
}

describe('file lock', () => {
  it('a lock held by a live process is respected until the wait runs out', { timeout: 30_000 }, async () => {
    const lock = path.join(mkdtempSync(path.join(os.tmpdir(), 'btc-lock-')), 'l');
    const child = await holder(lock);
    try {
      const started = Date.now();
      await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 400, what: 'k' })).rejects.toThrow(/lock on k not released/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the lock of an owner killed with SIGKILL is taken over at once, not after staleMs', { timeout: 30_000 }, async () => {
    const lock = path.join(mkdtempSync(path.join(os.tmpdir(), 'btc-lock-')), 'l');
    const child = await holder(lock);
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
    const started = Date.now();
    const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    await release();
    // The dead owner's file went with its lock: only this process's owner file is left.
    expect(ownerFiles(path.dirname(lock))).toEqual([expect.stringContaining(`-${process.pid}-`)]);
  });

  it('a lock that names no owner (an empty legacy lock file) is taken over once older than staleMs', async () => {
    const lock = path.join(mkdtempSync(path.join(os.tmpdir(), 'btc-lock-')), 'l');
    writeFileSync(lock, '');
    await expect(acquireFileLock(lock, { staleMs: 60_000, waitMs: 200 })).rejects.toThrow(/not released/);
    const old = (Date.now() - 120_000) / 1000;
    utimesSync(lock, old, old);
    const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 2_000 });
    await release();
  });

  it('an owner file removed from under a live process is written again on its next lock', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-lock-'));
    const lock = path.join(dir, 'l');
    await (await acquireFileLock(lock, { staleMs: 60_000 }))();
    for (const name of ownerFiles(dir)) rmSync(path.join(dir, name));
    expect(ownerFiles(dir)).toEqual([]);
    const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 1_000 });
    expect(ownerFiles(dir)).toHaveLength(1);
    await release();
  });

  it('two waiters in one process never hold the lock at the same time', async () => {
    const lock = path.join(mkdtempSync(path.join(os.tmpdir(), 'btc-lock-')), 'l');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const release = await acquireFileLock(lock, { staleMs: 60_000, waitMs: 10_000 });
        most = Math.max(most, ++inside);
        await new Promise((r) => setTimeout(r, 2));
        inside--;
        await release();
      }),
    );
    expect(most).toBe(1);
  });
});
