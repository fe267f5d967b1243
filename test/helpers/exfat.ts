// test/helpers/exfat.ts
// Mounts a small real exFAT file system (no hard links, like a USB stick on a Windows PC) through FUSE on a loop device, for the lock fallback tests.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureAptPackage } from './apt.ts';

const run = promisify(execFile);

export interface ExfatMount {
  /** The mount point: a folder whose name has a space and a non-ASCII letter. */
  dir: string;
  /** Unmounts, detaches the loop device and removes the image; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * mkfs.exfat on a sparse image, `losetup` (mount.exfat-fuse wants a block device) and
 * mount.exfat-fuse. The kernel here has no vfat/exfat driver; exFAT over FUSE answers link(2)
 * with EPERM as the kernel drivers do. Needs root (CI and this machine run as root).
 */
export async function mountExfat(sizeMiB = 32): Promise<ExfatMount> {
  const mkfs = await ensureAptPackage('exfatprogs', '/usr/sbin/mkfs.exfat');
  const mountFuse = await ensureAptPackage('exfat-fuse', '/usr/sbin/mount.exfat-fuse');
  const base = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-exfat-'));
  const image = path.join(base, 'disk.img');
  const dir = path.join(base, 'usb stick ü');
  const undo: Array<() => Promise<unknown>> = [async () => rmSync(base, { recursive: true, force: true })];
  const dispose = async () => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    writeFileSync(image, '');
    truncateSync(image, sizeMiB << 20);
    await run(mkfs, [image]);
    const loop = (await run('losetup', ['--find', '--show', image])).stdout.trim();
    undo.push(() => run('losetup', ['-d', loop]));
    mkdirSync(dir);
    await run(mountFuse, [loop, dir]);
    undo.push(() => unmount(dir));
    return { dir, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** umount, again while the FUSE daemon still has files open for a moment (EBUSY). */
async function unmount(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await run('umount', [dir]);
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
