// test/fs-retry.test.ts
// Renames and unlinks wait out a file held for a moment (EBUSY/EPERM/EACCES, as Windows' scanners cause), then report the error.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renameRetrying, retryWhileBusy, unlinkRetrying } from '../runtime/fs-retry.ts';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: held by another program`), { code });
}

describe('retrying renames and unlinks while a file is held', () => {
  it('a real EBUSY (renaming a folder while a file system is mounted on it) is waited out until it is released', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-busy-'));
    const held = path.join(dir, 'held');
    mkdirSync(held);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', held]);
    let mounted = true;
    try {
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          execFileSync('umount', [held]);
          mounted = false;
          resolve();
        }, 300),
      );
      const started = Date.now();
      await renameRetrying(held, path.join(dir, 'moved'));
      await released;
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(existsSync(path.join(dir, 'moved'))).toBe(true);
    } finally {
      if (mounted) execFileSync('umount', [held]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a file still busy after the budget: the last EBUSY is thrown, after the budget and not long after', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-busy-'));
    const held = path.join(dir, 'held');
    mkdirSync(held);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', held]);
    try {
      const started = Date.now();
      await expect(renameRetrying(held, path.join(dir, 'moved'), 300)).rejects.toMatchObject({ code: 'EBUSY' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      execFileSync('umount', [held]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('EPERM and EACCES are retried like EBUSY; ENOENT and ENOSPC are thrown at once', async () => {
    for (const code of ['EPERM', 'EACCES']) {
      let calls = 0;
      const value = await retryWhileBusy(async () => {
        if (++calls < 4) throw errno(code);
        return 'done';
      });
      expect([code, value, calls]).toEqual([code, 'done', 4]);
    }
    for (const code of ['ENOENT', 'ENOSPC']) {
      let calls = 0;
      await expect(retryWhileBusy(async () => ((calls++, Promise.reject(errno(code)))))).rejects.toMatchObject({ code });
      expect(calls).toBe(1);
    }
  });

  it('unlinkRetrying removes a file, and throws ENOENT for one that is not there', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-busy-'));
    try {
      writeFileSync(path.join(dir, 'f'), 'x');
      await unlinkRetrying(path.join(dir, 'f'));
      expect(existsSync(path.join(dir, 'f'))).toBe(false);
      await expect(unlinkRetrying(path.join(dir, 'f'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
