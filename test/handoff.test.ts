// test/handoff.test.ts
// The handoff bundle against a temporary git repo and the real MinIO: contents, exclusions, no secrets, audit hash, load.

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import git from 'isomorphic-git';
import JSZip from 'jszip';
import * as Minio from 'minio';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { HandoffResult } from '../runtime/handoff/result.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime, type Runtime } from '../runtime/context.ts';
import { assertNoSecrets } from '../runtime/handoff/bundle.ts';
import { silentLogger } from '../runtime/logger.ts';
import { listKeys } from '../runtime/store/types.ts';
import { createTempRepo, type TempRepo } from './helpers/git-repo.ts';
import { runCli } from './helpers/run-cli.ts';

const API_TOKEN = 'planted-api-token-5f1c9e7a-0d1e2f3a4b';
const DOTENV_ONLY_SECRET = 'dotenv-only-password-83be11';

/** What the repository holds; `excluded` files must never enter the bundle. */
const INCLUDED: Record<string, string> = {
  'package.json': '{ "name": "demo", "dependencies": { "yaml": "^2.0.0" } }\n',
  'package-lock.json': JSON.stringify({
    lockfileVersion: 3,
    packages: { '': { dependencies: { yaml: '^2.0.0' } }, 'node_modules/yaml': { version: '2.9.1' } },
  }),
  'functions/collect.ts': '// functions/collect.ts\n// Collects ticks.\nexport const x = 1;\n',
  'runtime/store.ts': '// runtime/store.ts\n// The store port.\n// third comment line is not part of the header\n',
  'bin/tool.mjs': '#!/usr/bin/env node\n// bin/tool.mjs\n// A tool with a shebang.\n',
  'notes.txt': 'no header here\n',
  // A secret committed by mistake inside a tracked file: masked on the way in.
  'config/leaky.ts': `// config/leaky.ts\n// Someone pasted a token.\nexport const token = '${API_TOKEN}';\n`,
  'docs/handover.md': [
    '# Handover',
    '',
    'Phase: integration of the collector',
    '',
    '## Done',
    '- store port',
    '',
    '## Remaining',
    '- [ ] leader lease',
    '- sync',
    '',
    '## Next tasks',
    '1. wire the dashboard',
    '2. run the playbook',
    '',
  ].join('\n'),
  '.gitignore': 'ignored.txt\nnode_modules/\ndata/\n',
};
const EXCLUDED: Record<string, string> = {
  '.env': `BTC_TS_API_TOKEN=${API_TOKEN}\nOTHER_PASSWORD=${DOTENV_ONLY_SECRET}\n`,
  '.env.local': `OTHER_PASSWORD=${DOTENV_ONLY_SECRET}\n`,
  'keys/server.pem': `-----BEGIN PRIVATE KEY-----\n${DOTENV_ONLY_SECRET}\n`,
  'docs/rules/dev-rules.md': '# development rules (kept out of bundles by default)\n',
  'CONTRACT.md': '# design doc (kept out of bundles by default)\n',
};

describe('handoff bundle', () => {
  let repo: TempRepo;
  let runtime: Runtime;
  let dataDir: string;
  let bucket: string;
  let firstCommit: string;
  let result: HandoffResult;
  let zip: JSZip;
  const minio = inject('minio');

  beforeAll(async () => {
    repo = await createTempRepo({ ...INCLUDED, ...EXCLUDED });
    firstCommit = await repo.commitAll('first commit');
    // Work in progress: one modified, one untracked, one ignored file.
    repo.write('functions/collect.ts', INCLUDED['functions/collect.ts'] + 'export const y = 2;\n');
    repo.write('functions/new-duty.ts', '// functions/new-duty.ts\n// Not committed yet.\n');
    repo.write('ignored.txt', 'gitignored\n');
    repo.write('node_modules/dep/index.js', 'module.exports = 1;\n');

    dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-handoff-'));
    const configFile = path.join(dataDir, 'app.yaml');
    writeFileSync(configFile, 'collector:\n  streams:\n    - exchange: emu\n      topic: trades\n      symbols: [BTC/USDT]\n');
    bucket = `handoff-${Date.now().toString(36)}`;
    const endpoint = new URL(minio.endpoint);
    const admin = new Minio.Client({ endPoint: endpoint.hostname, port: Number(endpoint.port), useSSL: false, accessKey: minio.accessKey, secretKey: minio.secretKey });
    await admin.makeBucket(bucket);

    const env = {
      BTC_TS_HOST: 'pc-test',
      BTC_TS_ACTOR: 'alice',
      BTC_TS_SITE: 'tokyo',
      BTC_TS_DATA_DIR: dataDir,
      BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
      BTC_TS_REPO_DIR: repo.dir,
      BTC_TS_S3_ENDPOINT: minio.endpoint,
      BTC_TS_S3_BUCKET: bucket,
      BTC_TS_S3_ACCESS_KEY: minio.accessKey,
      BTC_TS_S3_SECRET_KEY: minio.secretKey,
      BTC_TS_API_TOKEN: API_TOKEN,
    };
    runtime = await createRuntime(loadConfig({ file: configFile, env }), { log: silentLogger() });
    // A raw segment and a log line to sample, both carrying a secret that must come out masked.
    await runtime.store.put(
      'raw/emu/trades/BTC-USDT/dt=2026-01-01/000001-000000000001.jsonl',
      [1, 2, 3, 4, 5, 6, 7].map((seq) => JSON.stringify({ exchange: 'emu', seq, note: seq === 1 ? API_TOKEN : 'x' })).join('\n') + '\n',
    );
    await runtime.store.put('raw/emu/trades/BTC-USDT/dt=2026-01-02/000001-000000000008.jsonl', JSON.stringify({ exchange: 'emu', seq: 8 }) + '\n');
    mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
    writeFileSync(path.join(dataDir, 'logs', 'runtime.log'), `{"msg":"old"}\n{"msg":"token ${API_TOKEN} leaked"}\n{"msg":"last"}\n`);

    result = (await runtime.invoker.invoke('handoff', { session: 'sess-1' }, 'cli')) as HandoffResult;
    zip = await JSZip.loadAsync(result.bytes);
  });

  afterAll(async () => {
    await runtime?.shutdown();
    repo?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const yamlOf = async (name: string) => parseYaml(await zip.file(name)!.async('string'));

  it('names the zip Handoff_YYYYMMDD_HHMM and lists the repository files minus every exclusion', async () => {
    expect(result.json.key).toMatch(/^handoff\/Handoff_\d{8}_\d{4}(_\d+)?\.zip$/);
    // Tracked files only: the untracked functions/new-duty.ts is listed as in progress, never copied.
    const expectedRepoFiles = Object.keys(INCLUDED).sort();
    const inZip = Object.keys(zip.files).filter((f) => f.startsWith('repo/')).map((f) => f.slice(5)).sort();
    expect(inZip).toEqual(expectedRepoFiles);
    for (const name of ['env_manifest.yaml', 'repo_structure.yaml', 'gpt_context_map.yaml', 'handover.md', 'git.yaml', 'SHA256SUMS']) {
      expect(zip.file(name), name).not.toBeNull();
    }
    expect(result.json.files).toEqual(Object.keys(zip.files).filter((f) => !zip.files[f]!.dir).sort());
    const structure = (await yamlOf('repo_structure.yaml')) as { files: Array<{ path: string; header: string[]; included: boolean }> };
    expect(structure.files.map((f) => f.path)).toEqual(expectedRepoFiles);
    const header = (p: string) => structure.files.find((f) => f.path === p)!.header;
    expect(header('functions/collect.ts')).toEqual(['// functions/collect.ts', '// Collects ticks.']);
    expect(header('runtime/store.ts')).toEqual(['// runtime/store.ts', '// The store port.']);
    expect(header('bin/tool.mjs')).toEqual(['// bin/tool.mjs', '// A tool with a shebang.']);
    expect(header('notes.txt')).toEqual([]);
  });

  it('writes env, git and context documents that match the repository', async () => {
    const head = await git.resolveRef({ fs, dir: repo.dir, ref: 'HEAD' });
    expect(head).toBe(firstCommit);
    const env = (await yamlOf('env_manifest.yaml')) as Record<string, any>;
    expect(env.bundle.format).toBe('btc-ts-handoff');
    expect(env).toMatchObject({ host: 'pc-test', actor: 'alice', site: 'tokyo', session: 'sess-1', mode: 'DEBUG', branch: 'main', commit: head, dirty: true });
    expect(env.node).toBe(process.versions.node);
    expect(env.dependencies).toEqual({ yaml: '2.9.1' });
    const gitDoc = (await yamlOf('git.yaml')) as Record<string, any>;
    expect(gitDoc).toMatchObject({ branch: 'main', head, dirty: true, restore_points: [] });
    expect(gitDoc.commits.map((c: { oid: string }) => c.oid)).toEqual([head]);
    const context = (await yamlOf('gpt_context_map.yaml')) as Record<string, any>;
    expect(context.phase).toBe('integration of the collector');
    expect(context.next_tasks).toEqual(['wire the dashboard', 'run the playbook']);
    expect(context.open_tasks).toEqual(['leader lease', 'sync']);
    expect(context.files_in_progress).toEqual([
      { path: 'functions/collect.ts', change: 'modified' },
      { path: 'functions/new-duty.ts', change: 'untracked' },
    ]);
    expect(await zip.file('handover.md')!.async('string')).toBe(INCLUDED['docs/handover.md']);
  });

  it('samples the newest raw segment per stream and the log tail, masked', async () => {
    const raw = await zip.file('samples/raw/emu/trades/BTC-USDT.jsonl')!.async('string');
    expect(raw.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([8]); // dt=2026-01-02 is newer
    const log = await zip.file('samples/logs/runtime.log')!.async('string');
    expect(log).toContain('token *** leaked');
    expect(log.trim().split('\n')).toHaveLength(3);
  });

  it('carries no secret value in any byte, entry name or uncompressed entry', async () => {
    const secrets = [API_TOKEN, DOTENV_ONLY_SECRET, minio.secretKey];
    for (const secret of secrets) expect(result.bytes.includes(Buffer.from(secret))).toBe(false);
    for (const entry of Object.values(zip.files)) {
      const body = await entry.async('nodebuffer');
      for (const secret of secrets) {
        expect(entry.name.includes(secret), entry.name).toBe(false);
        expect(body.includes(Buffer.from(secret)), `${entry.name} holds a secret`).toBe(false);
      }
    }
    expect(await zip.file('repo/config/leaky.ts')!.async('string')).toContain("token = '***'");
    expect(JSON.stringify(result)).not.toContain('"bytes":{'); // the CLI prints the summary, not the zip
  });

  it('the final scan refuses a zip that hides a secret in a compressed entry, without naming the secret', async () => {
    const leaky = new JSZip();
    leaky.file('ok.txt', 'fine');
    leaky.file('deep/secret.yaml', `${'padding '.repeat(200)} token: ${API_TOKEN}`);
    const bytes = await leaky.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    expect(bytes.includes(Buffer.from(API_TOKEN))).toBe(false); // compressed: a byte search alone would miss it
    const error = await assertNoSecrets(bytes, [API_TOKEN]).then(() => null, (e: Error) => e);
    expect(error?.message).toContain('deep/secret.yaml');
    expect(error?.message).not.toContain(API_TOKEN);
  });

  it('stores the zip in the primary and audits handover.bundle.create with the stored object sha256', async () => {
    const stored = await runtime.store.primary.get(result.json.key);
    const storedSha = createHash('sha256').update(stored.body).digest('hex');
    expect(stored.body.equals(result.bytes)).toBe(true);
    const event = runtime.audit.recentEvents().find((e) => e.event === 'handover.bundle.create')!;
    expect(event.payload).toMatchObject({ actor: 'alice', site: 'tokyo', session: 'sess-1', key: result.json.key, bytes: stored.body.length, sha256: storedSha });
    // The shipped audit segment in MinIO holds the same event.
    const auditKeys = await listKeys(runtime.store.primary, 'audit/');
    const lines = (await Promise.all(auditKeys.map(async (k) => (await runtime.store.primary.get(k)).body.toString()))).join('').split('\n').filter(Boolean);
    const shipped = lines.map((l) => JSON.parse(l)).find((e) => e.event === 'handover.bundle.create');
    expect(shipped?.payload.sha256).toBe(storedSha);
  });

  it('a second bundle in the same minute gets its own key; { rp, label } cuts a restore point recorded in the bundle', async () => {
    const again = (await runtime.invoker.invoke('handoff', { session: 'sess-1', rp: true, label: 'pre-merge' }, 'cli')) as HandoffResult;
    expect(again.json.key).not.toBe(result.json.key);
    expect((await runtime.store.primary.get(result.json.key)).body.equals(result.bytes)).toBe(true);
    expect(again.json.restore_point).toMatch(/^rp\/\d{8}-\d{4}-pre-merge$/);
    expect(await git.listTags({ fs, dir: repo.dir })).toEqual([again.json.restore_point]);
    const second = await JSZip.loadAsync(again.bytes);
    expect(parseYaml(await second.file('env_manifest.yaml')!.async('string')).restore_point).toBe(again.json.restore_point);
    expect(parseYaml(await second.file('git.yaml')!.async('string')).restore_points).toEqual([again.json.restore_point]);
  });

  describe('runtime handoff load', () => {
    const cliEnv = () => ({ BTC_TS_REPO_DIR: repo.dir, BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs') });
    const writeZip = (name: string, bytes: Buffer) => {
      const file = path.join(dataDir, name);
      writeFileSync(file, bytes);
      return file;
    };

    it('round-trips a bundle: phase, mode, next tasks and the commits made since', async () => {
      const file = writeZip('bundle.zip', result.bytes);
      await repo.commitAll('second commit after the handoff');
      const s3Env = {
        BTC_TS_S3_ENDPOINT: minio.endpoint,
        BTC_TS_S3_BUCKET: bucket,
        BTC_TS_S3_ACCESS_KEY: minio.accessKey,
        BTC_TS_S3_SECRET_KEY: minio.secretKey,
      };
      const [fromFile, fromKey] = await Promise.all([
        runCli(['handoff', 'load', file, '--sha256', result.json.sha256], cliEnv()),
        runCli(['handoff', 'load', result.json.key, '--json'], { ...cliEnv(), ...s3Env }),
      ]);
      expect(fromFile.stderr).toBe('');
      expect(fromFile.code).toBe(0);
      expect(fromFile.stdout).toContain('integration of the collector');
      expect(fromFile.stdout).toMatch(/mode\s+DEBUG/);
      expect(fromFile.stdout).toContain('1. wire the dashboard');
      expect(fromFile.stdout).toContain('since the bundle: 1 commit(s)');
      expect(fromFile.stdout).toContain('second commit after the handoff');
      // By key: read from the bucket (MinIO), same bundle.
      expect(fromKey.code).toBe(0);
      const loaded = JSON.parse(fromKey.stdout);
      expect(loaded).toMatchObject({ ok: true, sha256: result.json.sha256, context: { next_tasks: ['wire the dashboard', 'run the playbook'] } });
      expect(loaded.since.commits.map((c: { message: string }) => c.message)).toEqual(['second commit after the handoff']);
    }, 180_000);

    it('runtime handoff make (in-process) stores a bundle, writes --out and prints its summary', async () => {
      const outDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-handoff-out-'));
      try {
        const run = await runCli(['handoff', 'make', '--local', '--out', outDir], { ...cliEnv(), BTC_TS_API_TOKEN: API_TOKEN });
        expect(run.code).toBe(0);
        const summary = JSON.parse(run.stdout) as { key: string; sha256: string; bytes: number };
        const written = readFileSync(path.join(outDir, path.basename(summary.key)));
        expect(createHash('sha256').update(written).digest('hex')).toBe(summary.sha256);
        expect(written.length).toBe(summary.bytes);
        expect(written.includes(Buffer.from(API_TOKEN))).toBe(false);
      } finally {
        rmSync(outDir, { recursive: true, force: true });
      }
    }, 180_000);

    it('exits 2 on a truncated zip, a zip-slip entry, a foreign zip, an altered entry and a wrong sha256', async () => {
      const truncated = writeZip('truncated.zip', result.bytes.subarray(0, Math.floor(result.bytes.length / 2)));
      const slip = await JSZip.loadAsync(result.bytes);
      slip.file('../../evil.sh', 'rm -rf ~\n', { createFolders: false });
      const slipFile = writeZip('slip.zip', await slip.generateAsync({ type: 'nodebuffer' }));
      const foreign = new JSZip();
      foreign.file('README.md', 'just a zip');
      const foreignFile = writeZip('foreign.zip', await foreign.generateAsync({ type: 'nodebuffer' }));
      const altered = await JSZip.loadAsync(result.bytes);
      altered.file('handover.md', 'rewritten\n');
      const alteredFile = writeZip('altered.zip', await altered.generateAsync({ type: 'nodebuffer' }));
      const good = writeZip('good.zip', result.bytes);

      const cases: Array<[string[], RegExp]> = [
        [[truncated], /not a valid zip \(truncated or corrupt\)/],
        [[slipFile], /unsafe entry "\.\.\/\.\.\/evil\.sh" refused/],
        [[foreignFile], /not a btc-ts handoff bundle/],
        [[alteredFile], /handover\.md was altered/],
        [[good, '--sha256', '0'.repeat(64)], /sha256 mismatch/],
        [[path.join(dataDir, 'absent.zip')], /no such file/],
      ];
      const runs = await Promise.all(cases.map(([args]) => runCli(['handoff', 'load', ...args], cliEnv())));
      runs.forEach((run, i) => {
        expect(run.code, cases[i]![1].source).toBe(2);
        expect(run.stderr).toMatch(cases[i]![1]);
        expect(run.stderr.trim().split('\n')).toHaveLength(1);
      });
    }, 240_000); // six CLI processes on a shared 2-core machine
  });
});
