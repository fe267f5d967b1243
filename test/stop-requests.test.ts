// test/stop-requests.test.ts
// The stop file in-process: it stops within one poll (well inside a tick) and is removed; one left from an earlier run never stops a fresh start; the default is <data dir>/runtime.stop.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultShutdownFile, SHUTDOWN_FILE_NAME, waitForStopRequest } from '../runtime/cli/stop-requests.ts';
import { createLogger } from '../runtime/logger.ts';
import { createMasker } from '../runtime/secrets.ts';

const log = createLogger({ level: 'silent', masker: createMasker({}) });
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('stop requests', () => {
  it('the default stop file is <data dir>/runtime.stop', () => {
    expect(SHUTDOWN_FILE_NAME).toBe('runtime.stop');
    expect(defaultShutdownFile(path.join('C:', 'btc ts', 'data ü'))).toBe(path.join('C:', 'btc ts', 'data ü', 'runtime.stop'));
  });

  it('a stop file left from an earlier run is removed at once and does not stop; a new one stops within a second and is removed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-stop dir ü-'));
    dirs.push(dir);
    const file = defaultShutdownFile(dir);
    writeFileSync(file, 'left over');
    let reason: string | null = null;
    const stopped = waitForStopRequest({ shutdownFile: file, log, watchParent: null }).then((r) => (reason = r));
    expect(existsSync(file)).toBe(false);
    await new Promise((r) => setTimeout(r, 1_200)); // two polls: nothing to see
    expect(reason).toBe(null);
    const asked = Date.now();
    writeFileSync(file, '');
    await stopped;
    expect(reason).toBe(`shutdown file ${file} appeared`);
    expect(Date.now() - asked).toBeLessThan(2_000); // polled every 500 ms; a tick is 5 s
    expect(existsSync(file)).toBe(false);
  });
});
