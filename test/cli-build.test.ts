// test/cli-build.test.ts
// The compiled build (bin/build.mjs → dist/): `runtime` runs it when it matches the sources and falls back to tsx when not; a runtime started from it serves /health and loads every duty; --help's table matches the command modules.

import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCommands } from '../runtime/cli/commands.ts';
import { COMMAND_SUMMARIES } from '../runtime/cli/summaries.ts';
import { spawnRuntime, type RuntimeProcess } from './helpers/runtime-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What an installation needs to build and run (node_modules is linked, not copied). */
const INSTALL_ENTRIES = ['bin', 'runtime', 'functions', 'schedules', 'config', 'infra', 'package.json', 'tsconfig.json'];
/** Put into the compiled main.js only: seen in the output exactly when the compiled code runs. */
const MARKER = 'btc-ts runtime (compiled copy)';
const GONE = 'runtime/zz-gone.ts';
/** A duty written in plain JavaScript (runtime/registry.ts loads .mjs/.js duties too): dist/ must carry it. */
const PLAIN = 'functions/zz-plain.mjs';
const PLAIN_SOURCE = `// functions/zz-plain.mjs
// A duty in plain JavaScript (test/cli-build.test.ts): copied into dist/ as it is.

import { z } from 'zod';

export default { name: 'zz-plain', description: 'a plain JavaScript duty', input: z.object({}).strict(), output: z.object({ ok: z.boolean() }), run: async () => ({ ok: true }) };
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(root: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: root, env: { ...process.env, BTC_TS_NO_DIST: '', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('compiled build (dist/)', () => {
  let copy: string;

  beforeAll(() => {
    // A copy of the installation, so this test builds, edits and stales its own dist/ without
    // touching the checkout's (which other tests' spawned runtimes are using).
    copy = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-build-'));
    for (const entry of INSTALL_ENTRIES) cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'junction');
    // A source the second test deletes: its compiled file must go with it.
    writeFileSync(path.join(copy, GONE), '// runtime/zz-gone.ts\n// A source deleted after the first build (test/cli-build.test.ts).\n\nexport const gone = true;\n');
  });

  afterAll(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('builds every runtime source to dist/ with source maps, and --help through dist prints what it prints through tsx', { timeout: 120_000 }, async () => {
    const build = await run(copy, ['bin/build.mjs']);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stdout).toMatch(/compiled \d+ files to dist/);
    for (const dir of ['runtime', 'functions', 'schedules']) {
      const sources = readdirSync(path.join(copy, dir), { recursive: true, encoding: 'utf8' }).filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts'));
      for (const f of sources) {
        const out = path.join(copy, 'dist', dir, f.replace(/\.tsx?$/, '.js'));
        expect(statSync(out).isFile(), out).toBe(true);
        expect(statSync(`${out}.map`).isFile(), `${out}.map`).toBe(true);
      }
    }
    // Relative imports name the compiled .js files; a .tsx page's JSX is hono's.
    const main = readFileSync(path.join(copy, 'dist/runtime/cli/main.js'), 'utf8');
    expect(main).toMatch(/from "\.\/commands\.js"/);
    expect(main).not.toMatch(/\.ts"/);
    expect(readFileSync(path.join(copy, 'dist/runtime/http/layout.js'), 'utf8')).toMatch(/from "hono\/jsx\/jsx-runtime"/);
    expect((await run(copy, ['bin/build.mjs', '--check'])).code).toBe(0);

    const [compiled, tsx] = await Promise.all([run(copy, ['bin/runtime.mjs', '--help']), run(copy, ['bin/runtime.mjs', '--help'], { BTC_TS_NO_DIST: '1' })]);
    expect(compiled.code).toBe(0);
    expect(tsx.code).toBe(0);
    expect(compiled.stdout).toContain('usage: runtime <command>');
    expect(compiled.stdout).toBe(tsx.stdout);
    expect(compiled.stderr).toBe(tsx.stderr);
  });

  it('runs dist/ while it matches the sources; an edited source (even one given back its old mtime) falls back to tsx; a rebuild drops a deleted source', { timeout: 120_000 }, async () => {
    const mainJs = path.join(copy, 'dist/runtime/cli/main.js');
    const text = readFileSync(mainJs, 'utf8');
    expect(text).toContain('btc-ts runtime \u2014');
    writeFileSync(mainJs, text.replace('btc-ts runtime \u2014', `${MARKER} \u2014`));
    expect((await run(copy, ['bin/runtime.mjs', '--help'])).stdout).toContain(MARKER);
    expect((await run(copy, ['bin/runtime.mjs', '--help'], { BTC_TS_NO_DIST: '1' })).stdout).not.toContain(MARKER);

    // An edit that keeps the old mtime (a restore, a copy with -p) still changes the size: stale.
    const source = path.join(copy, 'runtime/errors.ts');
    const before = statSync(source);
    writeFileSync(source, `${readFileSync(source, 'utf8')}\n// edited after the build\n`);
    utimesSync(source, before.atime, before.mtime);
    const check = await run(copy, ['bin/build.mjs', '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/stale: a source changed/);
    const fallback = await run(copy, ['bin/runtime.mjs', '--help']);
    expect(fallback.code).toBe(0);
    expect(fallback.stdout).not.toContain(MARKER);
    expect(fallback.stdout).toContain('usage: runtime <command>');

    // `--if-stale` rebuilds (the marker goes, a deleted source's output too), and then builds nothing more.
    const goneJs = path.join(copy, 'dist', GONE.replace(/\.ts$/, '.js'));
    expect(statSync(goneJs).isFile()).toBe(true);
    rmSync(path.join(copy, GONE));
    expect((await run(copy, ['bin/build.mjs', '--if-stale'])).stdout).toMatch(/compiled \d+ files/);
    expect(statSync(goneJs, { throwIfNoEntry: false })).toBeUndefined();
    expect(statSync(`${goneJs}.map`, { throwIfNoEntry: false })).toBeUndefined();
    expect((await run(copy, ['bin/build.mjs', '--if-stale'])).stdout).toBe('');
    expect((await run(copy, ['bin/runtime.mjs', '--help'])).stdout).not.toContain(MARKER);

    // A new plain-JavaScript duty makes dist/ stale, and the build copies it over unchanged (the next
    // test's runtime, started from dist/, must list it among its duties).
    writeFileSync(path.join(copy, PLAIN), PLAIN_SOURCE);
    expect((await run(copy, ['bin/build.mjs', '--check'])).code).toBe(1);
    expect((await run(copy, ['bin/build.mjs', '--if-stale'])).stdout).toMatch(/compiled \d+ files/);
    expect(readFileSync(path.join(copy, 'dist', PLAIN), 'utf8')).toBe(PLAIN_SOURCE);
  });

  it('a runtime started from dist/ answers /health, says it runs the compiled code and loads every duty', { timeout: 180_000 }, async () => {
    expect((await run(copy, ['bin/build.mjs', '--check'])).code).toBe(0);
    let proc: RuntimeProcess | undefined;
    try {
      proc = await spawnRuntime({ host: 'build-copy', root: copy, env: { BTC_TS_S3_ENDPOINT: '' } });
      const listening = proc.output().split('\n').find((l) => l.includes('listening on'));
      expect(listening, proc.output().slice(-2000)).toBeDefined();
      expect(JSON.parse(listening!).code).toBe('dist');
      const { functions } = await proc.get<{ functions: Array<{ name: string }> }>('/fn');
      const duties = readdirSync(path.join(copy, 'functions')).filter((f) => /\.(ts|mjs|js)$/.test(f) && !f.startsWith('_')).map((f) => f.replace(/\.(ts|mjs|js)$/, ''));
      expect(duties).toContain('zz-plain');
      expect(functions.map((f) => f.name).sort()).toEqual(duties.sort());
    } finally {
      await proc?.dispose();
    }
  });
});

describe('runtime --help', () => {
  it('lists COMMAND_SUMMARIES: every command module\'s name and summary are an entry there, each entry is a command, in order', { timeout: 60_000 }, async () => {
    const commands = await allCommands();
    expect(COMMAND_SUMMARIES.map((c) => ({ name: c.name, summary: c.summary }))).toEqual(commands.map((c) => ({ name: c.name, summary: c.summary })));
  });

  it('zod runs without its compiled fast path only for the commands that parse once, never for a server or a command that parses many rows', { timeout: 60_000 }, async () => {
    const once = (await allCommands()).filter((c) => c.parsesOnce).map((c) => c.name);
    expect(once.sort()).toEqual(['config diff', 'handoff load', 'handoff make', 'rp list', 'rp make', 'rp restore', 'status']);
    for (const name of ['start', 'emulator', 'dashboard export', 'state update', 'sync', 'export', 'query']) expect(once, name).not.toContain(name);
  });

  it('every usage line (written out or derived) names each flag and positional its command takes, and no other', { timeout: 60_000 }, async () => {
    const drift: string[] = [];
    for (const listed of await allCommands()) {
      const command = listed.prepare ? await listed.prepare() : listed;
      const flags = new Set([...command.usage.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
      for (const name of Object.keys(command.options ?? {})) if (!flags.delete(name)) drift.push(`${command.name}: --${name} missing from "${command.usage}"`);
      for (const extra of flags) drift.push(`${command.name}: "${command.usage}" names --${extra}, which it does not take`);
      // A positional shows as <name> (any case), or as the choices it takes (`enable|disable|status`).
      const words = command.usage.slice(`runtime ${command.name} `.length).split(' ');
      for (const [i, positional] of (command.positionals ?? []).entries()) {
        const shown = command.usage.toLowerCase().includes(`<${positional.toLowerCase()}>`) || (i === 0 && /^[a-z-]+(\|[a-z-]+)+$/.test(words[0] ?? ''));
        if (!shown) drift.push(`${command.name}: <${positional}> missing from "${command.usage}"`);
      }
    }
    expect(drift).toEqual([]);
  });
});
