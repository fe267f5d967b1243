// test/handoff-secrets.test.ts
// Issue 22 §2: a bundle holds tracked files only and no secret by kind (webhook URLs, upload command, secret-shaped values).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import JSZip from 'jszip';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/schema.ts';
import type { HandoffResult } from '../runtime/handoff/result.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { openRepo } from '../runtime/git/repo.ts';
import { assertNoSecrets, buildBundle, type BundleSources } from '../runtime/handoff/bundle.ts';
import { secretsInConfigFile } from '../runtime/handoff/file-secrets.ts';
import { silentLogger } from '../runtime/logger.ts';
import { createMasker } from '../runtime/secrets.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createTempRepo, type TempRepo } from './helpers/git-repo.ts';

/** A webhook on a host no SECRET_PATTERN knows: only its config key says it is a secret. */
const WEBHOOK_TOKEN = 'wh-T0k3n-9f2c41d7e8';
const WEBHOOK_URL = `https://alerts.example.net/hook/${WEBHOOK_TOKEN}`;
const UPLOAD_PASSWORD = 'Upl0ad-pa55-7731zq';
const UPLOAD_COMMAND = `rclone copy . nas:dashboard --ftp-pass ${UPLOAD_PASSWORD}`;
const APP_YAML = `alerts:\n  webhookUrls:\n    - ${WEBHOOK_URL}\ndashboard:\n  uploadCommand: "${UPLOAD_COMMAND}"\n`;
/** Untracked, not ignored, and not named .env*: the file issue 22 saw shipped as is. */
const STRAY_ENV = { 'deploy/local-secrets.txt': `SIGNAL_WEBHOOK_URLS=${WEBHOOK_URL}\nUPLOAD_PASSWORD=${UPLOAD_PASSWORD}\n` };
const TRACKED = {
  'config/app.yaml': APP_YAML,
  'functions/duty.ts': '// functions/duty.ts\n// A duty.\nexport const duty = 1;\n',
  'docs/handover.md': '# Handover\n## Next\n- ship it\n',
};
const SECRETS = [WEBHOOK_URL, WEBHOOK_TOKEN, UPLOAD_PASSWORD, UPLOAD_COMMAND];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function repoWithStrayEnv(): Promise<TempRepo> {
  const repo = await createTempRepo(TRACKED);
  await repo.commitAll('tracked files');
  for (const [rel, content] of Object.entries(STRAY_ENV)) repo.write(rel, content);
  cleanups.push(() => repo.dispose());
  return repo;
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-handoff-secrets-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every secret is absent from the raw zip bytes and from every entry name and decompressed body. */
async function expectNoSecretAnywhere(bytes: Buffer): Promise<JSZip> {
  for (const secret of SECRETS) expect(bytes.includes(Buffer.from(secret)), 'raw zip bytes').toBe(false);
  const zip = await JSZip.loadAsync(bytes);
  for (const entry of Object.values(zip.files)) {
    const body = await entry.async('nodebuffer');
    for (const secret of SECRETS) {
      expect(entry.name.includes(secret), entry.name).toBe(false);
      expect(body.includes(Buffer.from(secret)), `${entry.name} holds a secret`).toBe(false);
    }
  }
  return zip;
}

function sources(repoDir: string, repo: BundleSources['repo'], overrides: Partial<BundleSources> = {}): BundleSources {
  const data = tempDir();
  return {
    repoDir,
    repo,
    settings: defaultConfig().handoff,
    nowMs: Date.UTC(2026, 0, 2, 3, 4),
    identity: { host: 'pc', actor: 'op', site: 's', mode: 'DEBUG', session: 'sess' },
    masker: createMasker({}),
    store: createFsStore({ root: path.join(data, 'store') }),
    streams: [],
    logsDir: path.join(data, 'logs'),
    restorePoint: null,
    ...overrides,
  };
}

describe('handoff bundle secrets (issue 22 §2)', () => {
  it('through the runtime: tracked files only, and the config webhook URL and upload password appear nowhere in the zip', async () => {
    const repo = await repoWithStrayEnv();
    const data = tempDir();
    const configFile = path.join(repo.dir, 'config/app.yaml');
    const env = { BTC_TS_DATA_DIR: data, BTC_TS_LOGS_DIR: path.join(data, 'logs'), BTC_TS_REPO_DIR: repo.dir, BTC_TS_HOST: 'pc-secrets' };
    const runtime: Runtime = await createRuntime(loadConfig({ file: configFile, env }), { log: silentLogger() });
    cleanups.push(() => runtime.shutdown());
    expect(runtime.loaded.config.alerts.webhookUrls).toEqual([WEBHOOK_URL]);

    const result = (await runtime.invoker.invoke('handoff', { session: 'sess-secrets' }, 'cli')) as HandoffResult;
    const zip = await expectNoSecretAnywhere(result.bytes);
    const repoFiles = Object.keys(zip.files).filter((f) => f.startsWith('repo/')).sort();
    expect(repoFiles).toEqual(Object.keys(TRACKED).map((f) => `repo/${f}`).sort());
    expect(repoFiles).not.toContain('repo/deploy/local-secrets.txt');
    expect(await zip.file('repo/config/app.yaml')!.async('string')).toBe('alerts:\n  webhookUrls:\n    - ***\ndashboard:\n  uploadCommand: "***"\n');
    // The stray file is named as work in progress (its path is no secret), never copied.
    const context = parseYaml(await zip.file('gpt_context_map.yaml')!.async('string'));
    expect(context.files_in_progress).toEqual([{ path: 'deploy/local-secrets.txt', change: 'untracked' }]);
  });

  it('masks secrets by kind found in a bundled config file the runtime did not load', async () => {
    const repo = await repoWithStrayEnv();
    // The runtime's masker knows nothing of these values (its config lives elsewhere).
    const bundle = await buildBundle(sources(repo.dir, await openRepo(repo.dir)));
    const zip = await expectNoSecretAnywhere(bundle.bytes);
    expect(await zip.file('repo/functions/duty.ts')!.async('string')).toBe(TRACKED['functions/duty.ts']);
  });

  it('a directory that is not a git checkout: no repository file is bundled, and the bundle says why', async () => {
    const dir = tempDir();
    for (const [rel, content] of Object.entries({ ...TRACKED, ...STRAY_ENV })) {
      const file = path.join(dir, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    const bundle = await buildBundle(sources(dir, null));
    const zip = await expectNoSecretAnywhere(bundle.bytes);
    expect(Object.keys(zip.files).filter((f) => f.startsWith('repo/'))).toEqual([]);
    const structure = parseYaml(await zip.file('repo_structure.yaml')!.async('string'));
    expect(structure).toMatchObject({ source: 'none', file_count: 0 });
    expect(structure.note).toMatch(/not a git checkout/);
    expect(parseYaml(await zip.file('git.yaml')!.async('string'))).toEqual({ available: false });
  });

  it('finds secret values by key in YAML, JSON and KEY=value files, not in package-lock paths', () => {
    expect(secretsInConfigFile('config/app.yaml', APP_YAML).sort()).toEqual([UPLOAD_COMMAND, WEBHOOK_URL].sort());
    expect(secretsInConfigFile('x.json', JSON.stringify({ nested: { apiKey: 'abcdefgh1234', other: 'plain-value-1' } }))).toEqual(['abcdefgh1234']);
    expect(secretsInConfigFile('deploy/upload.env', `export UPLOAD_PASSWORD='${UPLOAD_PASSWORD}'\nNAME=plain-value-1\n`)).toEqual([UPLOAD_PASSWORD]);
    expect(secretsInConfigFile('package-lock.json', JSON.stringify({ packages: { 'node_modules/@aws-sdk/credential-provider-env': { version: '3.972.84' } } }))).toEqual([]);
    expect(secretsInConfigFile('runtime/code.ts', `const token = '${UPLOAD_PASSWORD}';`)).toEqual([]); // source: left to the masker's patterns
  });

  it('the final scan counts a secret-shaped string (a masker pattern hit) in any entry as a leak, without naming it', async () => {
    const leaky = new JSZip();
    leaky.file('ok.txt', 'url: https://user:***@example.net/ and password=*** are masked already');
    leaky.file('deep/notes.md', `${'padding '.repeat(200)}\nDB_PASSWORD=${UPLOAD_PASSWORD}\n`);
    const bytes = await leaky.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    const error = await assertNoSecrets(bytes, []).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/found in deep\/notes\.md$/);
    expect(error?.message).not.toContain(UPLOAD_PASSWORD);
  });
});
