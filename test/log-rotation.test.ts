// test/log-rotation.test.ts
// runtime.log, state_alerts.log and automation_runs.log rotate by size and by age (UTC day), old files pruned, names kept.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appendRotating } from '../runtime/log-files.ts';
import { createLogger, LOG_FILE } from '../runtime/logger.ts';
import { createMasker } from '../runtime/secrets.ts';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-logrot-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const rotated = (dir: string, base: string) => readdirSync(dir).filter((f) => new RegExp(`^${base}-\\d{8}-\\d{2}\\.log$`).test(f));

describe('log rotation', () => {
  it('runtime.log rotates by size, keeps maxFiles rotated files, and stays masked', async () => {
    const dir = tmp();
    const secret = 'rotation-secret-value-1234';
    const log = createLogger({ logsDir: dir, masker: createMasker({ BTC_TS_API_TOKEN: secret }), rotation: { size: '2K', interval: '1d', maxFiles: 3 }, consoleFd: 2, level: 'info' });
    for (let i = 0; i < 120; i++) log.info({ i, token: secret }, `line ${i} ${'x'.repeat(40)}`);
    await until(() => existsSync(path.join(dir, LOG_FILE)) && readFileSync(path.join(dir, LOG_FILE), 'utf8').includes('"i":119'), 'the last line in runtime.log');
    const files = rotated(dir, 'runtime');
    expect(files.length).toBeGreaterThan(0);
    expect(files.length).toBeLessThanOrEqual(3);
    expect(statSync(path.join(dir, LOG_FILE)).size).toBeLessThanOrEqual(4096);
    for (const f of [LOG_FILE, ...files]) expect(readFileSync(path.join(dir, f), 'utf8')).not.toContain(secret);
    // The oldest lines are gone with the pruned files (3 × ~2 KB kept of ~20 KB written).
    const all = [LOG_FILE, ...files].map((f) => readFileSync(path.join(dir, f), 'utf8')).join('');
    expect(all).not.toContain('"i":0,');
  });

  it('a runtime.log that cannot be written does not end the process; logging resumes once it can', async () => {
    const dir = tmp();
    const logsDir = path.join(dir, 'logs');
    const log = createLogger({ logsDir, masker: createMasker({}), rotation: { size: '1K', interval: '1d', maxFiles: 3 }, consoleFd: 2, level: 'info' });
    log.info('before');
    await until(() => existsSync(path.join(logsDir, LOG_FILE)) && readFileSync(path.join(logsDir, LOG_FILE), 'utf8').includes('before'), 'the first line');
    // The directory disappears: the next rotation (or write) fails with ENOENT.
    rmSync(logsDir, { recursive: true, force: true });
    for (let i = 0; i < 40; i++) log.info(`during ${i} ${'z'.repeat(60)}`);
    await new Promise((r) => setTimeout(r, 1_200));
    mkdirSync(logsDir, { recursive: true });
    // Still alive: later lines land in a new runtime.log, after the lines kept while it failed.
    await until(() => {
      log.info('after');
      return existsSync(path.join(logsDir, LOG_FILE)) && readFileSync(path.join(logsDir, LOG_FILE), 'utf8').includes('"msg":"after"');
    }, 'logging to resume');
    // The kept lines went out first (with a 1 KB limit they may already sit in a rotated file).
    const text = [...rotated(logsDir, 'runtime').sort(), LOG_FILE].map((f) => readFileSync(path.join(logsDir, f), 'utf8')).join('');
    expect(text).toContain('during 39');
    expect(text.indexOf('during 39')).toBeLessThan(text.indexOf('"msg":"after"'));
  });

  it('a log file from an earlier UTC day is rotated on the next append; size rotation keeps the newest', async () => {
    const dir = tmp();
    const file = path.join(dir, 'automation_runs.log');
    writeFileSync(file, '{"sequence":1,"from":"two days ago"}\n');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(file, twoDaysAgo, twoDaysAgo);
    await appendRotating(dir, 'automation_runs.log', '{"sequence":2}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"sequence":2}\n');
    const old = rotated(dir, 'automation_runs');
    expect(old).toHaveLength(1);
    expect(readFileSync(path.join(dir, old[0]!), 'utf8')).toContain('two days ago');

    // state_alerts.log by size: parallel appends are serialised, nothing is lost or interleaved.
    const o = { size: '1K', interval: '1d', maxFiles: 50 };
    await Promise.all(Array.from({ length: 40 }, (_, i) => appendRotating(dir, 'state_alerts.log', `alert ${String(i).padStart(2, '0')} ${'y'.repeat(60)}\n`, o)));
    const texts = [...rotated(dir, 'state_alerts'), 'state_alerts.log'].map((f) => readFileSync(path.join(dir, f), 'utf8'));
    const lines = texts.join('').trim().split('\n');
    expect(lines.map((l) => l.slice(0, 8)).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `alert ${String(i).padStart(2, '0')}`));
    expect(rotated(dir, 'state_alerts').length).toBeGreaterThan(1);
    expect(existsSync(path.join(dir, 'state_alerts.log'))).toBe(true);
  });
});
