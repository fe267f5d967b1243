// test/minio-dev.test.ts
// `npm run minio:dev` (infra/minio/dev.sh) against the cached MinIO: credentials go to a 0600 file, never to the terminal; a dead server is not reported as running.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapBucket } from '../infra/minio/bootstrap.ts';
import { processAlive } from '../runtime/file-lock.ts';
import { freePort } from './helpers/minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface DevRun {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Runs dev.sh in its own process group (so the test can stop bash and MinIO together). */
function devSh(env: Record<string, string>): DevRun {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(MINIO_ROOT_|BTC_TS_S3_)/.test(k)));
  const child = spawn('bash', [path.join(ROOT, 'infra/minio/dev.sh')], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(-child.pid!, 'SIGKILL');
      await exited;
    }
  });
  return { child, output: () => output, exited };
}

async function waitForText(run: DevRun, text: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`dev.sh did not print "${text}":\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(process.platform === 'win32')('npm run minio:dev', () => {
  it('keeps the credentials in a 0600 file it names, reuses a live server, and restarts a dead one', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-miniodev-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      MINIO_PORT: String(await freePort()),
      MINIO_CONSOLE_PORT: String(await freePort()),
      MINIO_DATA_DIR: path.join(dir, 'minio'),
      MINIO_DEV_STATE_DIR: dir,
    };
    const envFile = path.join(dir, 'minio-dev.env');

    const first = devSh(env);
    await waitForText(first, 'Ctrl-C stops it.');
    const secrets = readFileSync(envFile, 'utf8');
    const password = /MINIO_ROOT_PASSWORD=(\S+)/.exec(secrets)![1]!;
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect(secrets).toContain(`BTC_TS_S3_SECRET_KEY=${password}`);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
    expect(first.output()).not.toContain(password);
    expect(first.output()).toContain(`source ${envFile}`);
    expect(first.output()).toContain(`MINIO_ROOT_PASSWORD in ${envFile}`);
    // The credentials in the file open the server (the console logs in with the same root user).
    const user = /MINIO_ROOT_USER=(\S+)/.exec(secrets)![1]!;
    const endpoint = `http://127.0.0.1:${env.MINIO_PORT}`;
    expect(await bootstrapBucket({ endpoint, bucket: 'btc-ts', accessKey: user, secretKey: password })).toEqual({ created: false });

    // A second run while it lives: reported as running with the real pid, nothing new started.
    const [minioPid, recordedPort] = readFileSync(path.join(dir, 'minio-dev.pid'), 'utf8').trim().split(' ').map(Number);
    expect(processAlive(minioPid!)).toBe(true);
    expect(recordedPort).toBe(Number(env.MINIO_PORT));
    const second = devSh(env);
    expect(await second.exited).toBe(0);
    expect(second.output()).toContain(`already running (pid ${minioPid}`);
    expect(second.output()).not.toContain(password);
    // Asked for another port while it lives: the same server is reused, never a second one on the data dir.
    const otherPort = devSh({ ...env, MINIO_PORT: String(await freePort()) });
    expect(await otherPort.exited).toBe(0);
    expect(otherPort.output()).toContain(`runs on port ${env.MINIO_PORT} (not `);
    expect(otherPort.output()).toContain(`already running (pid ${minioPid}`);

    // The whole first run dies (kill -9: no trap runs), leaving its pid file behind.
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
    await new Promise<void>((resolve) => {
      const poll = () => (processAlive(minioPid!) ? setTimeout(poll, 50) : resolve());
      poll();
    });
    const third = devSh(env);
    await waitForText(third, 'Ctrl-C stops it.');
    expect(third.output()).toContain(`pid ${minioPid}) is not running any more; starting a new one`);
    expect(third.output()).toContain('MinIO is running (pid ');
    expect(readFileSync(envFile, 'utf8')).toContain(`MINIO_ROOT_PASSWORD=${password}`); // same credentials as before

    // Ctrl-C (SIGINT to the group) stops MinIO and removes the pid file.
    process.kill(-third.child.pid!, 'SIGINT');
    await third.exited;
    expect(() => statSync(path.join(dir, 'minio-dev.pid'))).toThrow();
  });
});
