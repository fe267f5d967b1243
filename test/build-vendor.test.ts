// test/build-vendor.test.ts
// bin/build.mjs's vendored packages (zod, yaml bundled into dist/vendor/): the compiled files import the bundles, never the packages; a bundle exports what the package does; another installed version makes dist/ stale.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript without declarations (bin/ runs without a build)
import { build } from '../bin/build.mjs';
// @ts-expect-error plain JavaScript without declarations
import { distState, installedVersion, listSources, STAMP_FILE, VENDORED } from '../bin/dist-stamp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dirs: string[] = [];
const tmp = (prefix: string) => {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The folders bin/dist-stamp.mjs walks (each must exist). */
function sourceDirs(root: string): void {
  for (const dir of ['runtime', 'functions', 'schedules', 'config', 'infra']) mkdirSync(path.join(root, dir), { recursive: true });
}

function write(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** Every static `from "x"`, dynamic `import("x")` and `require("x")` specifier in a compiled file. */
function specifiers(js: string): string[] {
  return [...js.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)].map((m) => m[1]!);
}

/** A temporary tree that builds as this one does: node_modules linked, tsconfig.json copied, the source folders made. */
function buildableTree(prefix: string): string {
  const root = tmp(prefix);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'), 'junction');
  writeFileSync(path.join(root, 'tsconfig.json'), readFileSync(path.join(ROOT, 'tsconfig.json')));
  sourceDirs(root);
  return root;
}

describe('vendored packages (bin/build.mjs)', () => {
  it('a build rewrites every import of a vendored package to its bundle, at any depth, and the bundles work like the packages', { timeout: 60_000 }, async () => {
    const root = buildableTree('btc-ts-vendor-');
    write(path.join(root, 'runtime/top.ts'), "import { z } from 'zod';\nimport { parse } from 'yaml';\nexport const schema = z.object({ a: z.number() });\nexport const read = (text: string) => schema.parse(parse(text));\n");
    write(path.join(root, 'runtime/deep/er/nested.ts'), "import { z, ZodError } from 'zod';\nimport { stringify } from 'yaml';\nexport const fails = () => { try { z.string().parse(1); return null; } catch (err) { return err instanceof ZodError; } };\nexport const text = stringify({ b: [1, 2] });\n");
    await build({ root, quiet: true });

    const top = readFileSync(path.join(root, 'dist/runtime/top.js'), 'utf8');
    const nested = readFileSync(path.join(root, 'dist/runtime/deep/er/nested.js'), 'utf8');
    expect(specifiers(top).sort()).toEqual(['../vendor/yaml.js', '../vendor/zod.js']);
    expect(specifiers(nested).sort()).toEqual(['../../../vendor/yaml.js', '../../../vendor/zod.js']);
    const topModule = await import(pathToFileURL(path.join(root, 'dist/runtime/top.js')).href);
    expect(topModule.read('a: 3')).toEqual({ a: 3 });
    expect(() => topModule.read('a: x')).toThrow(/number/);
    const nestedModule = await import(pathToFileURL(path.join(root, 'dist/runtime/deep/er/nested.js')).href);
    expect(nestedModule.fails()).toBe(true);
    expect(nestedModule.text).toBe('b:\n  - 1\n  - 2\n');

    // Each bundle exports exactly the names Node's own import of the package gives (yaml is CommonJS: named by hand).
    for (const name of ['zod', 'yaml']) {
      const vendored = await import(pathToFileURL(path.join(root, 'dist/vendor', `${name}.js`)).href);
      const pkg = await import(name);
      expect(Object.keys(vendored).sort(), name).toEqual(Object.keys(pkg).sort());
    }
    // zod's bundle leaves its translations out (VENDOR_TRIMS): English only, and messages in English.
    const zod = (await import(pathToFileURL(path.join(root, 'dist/vendor/zod.js')).href)) as typeof import('zod');
    expect(Object.keys(zod.z.locales)).toEqual(['en']);
    expect(Object.keys((await import('zod')).z.locales).length).toBeGreaterThan(20);
    expect(zod.z.string().safeParse(1).error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
    expect(readFileSync(path.join(root, 'dist/vendor/zod.js'), 'utf8').length).toBeLessThan(500_000);
    // The stamp holds the vendored versions: fresh now, and the bundles are no source (no map, no stale leftovers).
    expect(distState(root)).toEqual({ fresh: true });
    expect(readdirSync(path.join(root, 'dist/vendor')).sort()).toEqual(['yaml.js', 'zod.js']);
  });

  it('refuses a subpath import of a vendored package (it would load a second copy)', { timeout: 60_000 }, async () => {
    const root = buildableTree('btc-ts-vendor-sub-');
    write(path.join(root, 'runtime/sub.ts'), "import { z } from 'zod/mini';\nexport const s = z.string();\n");
    await expect(build({ root, quiet: true })).rejects.toThrow(/runtime[\\/]sub\.ts imports zod\/mini: import 'zod' itself/);
    expect(distState(root).fresh).toBe(false);
  });

  it('the checkout\'s dist/ imports no vendored package by name', () => {
    // test/global-setup.ts builds dist/ before any test: every compiled file is checked.
    const dist = path.join(ROOT, 'dist');
    const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js') && !f.startsWith(`vendor${path.sep}`) && !f.startsWith(`worker${path.sep}`));
    expect(files.length).toBeGreaterThan(100);
    const bare = files.flatMap((f) => specifiers(readFileSync(path.join(dist, f), 'utf8')).filter((s) => VENDORED.some((v: string) => s === v || s.startsWith(`${v}/`))).map((s) => `${f}: ${s}`));
    expect(bare).toEqual([]);
    const vendored = files.filter((f) => /vendor\/(zod|yaml)\.js/.test(readFileSync(path.join(dist, f), 'utf8')));
    expect(vendored.length).toBeGreaterThan(20);
  });

  it("a schema made by the package's zod (a plain-JavaScript duty, copied as it is) passes the bundle's instanceof checks, and back", async () => {
    // runtime/cli/flags-from-zod.ts derives a duty's flags with `instanceof z.ZodObject` and the like:
    // zod 4 compares an instance's traits, not its prototype, so two copies agree.
    const bundled = (await import(pathToFileURL(path.join(ROOT, 'dist/vendor/zod.js')).href)) as typeof import('zod');
    const pkg = await import('zod');
    expect(bundled.z).not.toBe(pkg.z);
    const fromPackage = pkg.z.object({ n: pkg.z.number().default(1), on: pkg.z.boolean().optional(), tags: pkg.z.array(pkg.z.string()) });
    expect(fromPackage instanceof bundled.z.ZodObject).toBe(true);
    expect(fromPackage.shape.n instanceof bundled.z.ZodDefault).toBe(true);
    expect(fromPackage.shape.on instanceof bundled.z.ZodOptional).toBe(true);
    expect(fromPackage.shape.tags instanceof bundled.z.ZodArray).toBe(true);
    expect(fromPackage.shape.tags instanceof bundled.z.ZodString).toBe(false);
    expect(bundled.z.string() instanceof pkg.z.ZodString).toBe(true);
    const failed = fromPackage.safeParse({ tags: [1] });
    expect(failed.success).toBe(false);
    expect(failed.error instanceof bundled.z.ZodError).toBe(true);
  });

  it('another installed version of a vendored package changes the fingerprint and makes dist/ stale', () => {
    const root = tmp('btc-ts-vendor-stamp-');
    write(path.join(root, 'runtime/a.ts'), 'export const a = 1;\n');
    // node_modules one folder up, as Node would find it (a workspace, a symlinked checkout).
    const modules = path.join(path.dirname(root), `${path.basename(root)}-up`);
    dirs.push(modules);
    const app = path.join(modules, 'app');
    write(path.join(app, 'runtime/a.ts'), 'export const a = 1;\n');
    sourceDirs(app);
    const setVersion = (name: string, version: string | null) => {
      const file = path.join(modules, 'node_modules', name, 'package.json');
      if (version === null) rmSync(file, { force: true });
      else write(file, JSON.stringify({ name, version }));
    };
    setVersion('zod', '4.0.0');
    setVersion('yaml', '2.0.0');
    expect(installedVersion(app, 'zod')).toBe('4.0.0');
    // Not found from a sibling folder (a node_modules above the temp folder, as on some Windows profiles, may answer with its own).
    expect(installedVersion(root, 'zod')).not.toBe('4.0.0');

    const stamp = () => write(path.join(app, 'dist', STAMP_FILE), JSON.stringify({ fingerprint: listSources(app).fingerprint }));
    stamp();
    expect(distState(app)).toEqual({ fresh: true });
    setVersion('zod', '4.0.1');
    expect(distState(app)).toEqual({ fresh: false, reason: expect.stringMatching(/changed since the last build/) });
    stamp();
    expect(distState(app)).toEqual({ fresh: true });
    setVersion('yaml', '2.0.1');
    expect(distState(app).fresh).toBe(false);
    stamp();
    // A package uninstalled since the build is a change too.
    setVersion('yaml', null);
    expect(distState(app).fresh).toBe(false);
  });
});
