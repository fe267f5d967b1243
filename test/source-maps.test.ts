// test/source-maps.test.ts
// bin/source-maps.mjs (lazy source maps): stacks through the compiled dist/ read exactly as with Node's own source maps (process.setSourceMapsEnabled): TypeScript paths, lines, names.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript without declarations (bin/ runs without a build)
import { build } from '../bin/build.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const THROWERS = `// runtime/throwers.ts
// Errors thrown every way a stack can look (test/source-maps.test.ts).

import { readFileSync } from 'node:fs';

export class Thing {
  constructor(bad: boolean) {
    if (bad) throw new Error('in a constructor');
  }

  method(): never {
    throw new TypeError('in a method');
  }
}

export function outer(): never {
  return inner();
}

function inner(): never {
  throw new RangeError('two calls deep');
}

export async function later(): Promise<never> {
  await Promise.resolve();
  return await laterInner();
}

async function laterInner(): Promise<never> {
  await new Promise((r) => setTimeout(r, 1));
  throw new Error('after an await');
}

export const arrow = (): void => {
  [1].map(() => {
    throw new Error('in a callback');
  });
};

export function nodeError(): Buffer {
  return readFileSync({} as never);
}
`;

const CALLER = `// runtime/deeper/caller.ts
// Calls runtime/throwers.ts from another file and folder (test/source-maps.test.ts).

import { arrow, later, nodeError, outer, Thing } from '../throwers.ts';

export const cases: Array<() => unknown> = [() => new Thing(true), () => new Thing(false).method(), () => outer(), () => later(), () => arrow(), () => nodeError()];
`;

/** Prints the stack of every case, with Node's source maps (`node`) or bin/source-maps.mjs (`lazy`). */
const PRINTER = `import { fileURLToPath } from 'node:url';
const [mode, dist, sourceMaps] = process.argv.slice(2);
if (mode === 'node') process.setSourceMapsEnabled(true);
else (await import(sourceMaps)).mapStacksLazily(fileURLToPath(dist));
const { cases } = await import(new URL('runtime/deeper/caller.js', dist));
for (const run of cases) {
  try {
    await run();
    console.log('no error');
  } catch (err) {
    console.log(err.stack);
  }
}
`;

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe('lazy source maps (bin/source-maps.mjs)', () => {
  let root: string;

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-maps-'));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'), 'junction');
    writeFileSync(path.join(root, 'tsconfig.json'), readFileSync(path.join(ROOT, 'tsconfig.json')));
    for (const dir of ['runtime/deeper', 'functions', 'schedules', 'config', 'infra']) mkdirSync(path.join(root, dir), { recursive: true });
    writeFileSync(path.join(root, 'runtime/throwers.ts'), THROWERS);
    writeFileSync(path.join(root, 'runtime/deeper/caller.ts'), CALLER);
    writeFileSync(path.join(root, 'printer.mjs'), PRINTER);
    await build({ root, quiet: true });
  }, 60_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('gives the stacks Node gives with its own source maps: TypeScript paths, lines and names, async and constructor frames, Node error codes', { timeout: 60_000 }, async () => {
    const dist = pathToFileURL(path.join(root, 'dist') + path.sep).href;
    const args = (mode: string) => [path.join(root, 'printer.mjs'), mode, dist, pathToFileURL(path.join(ROOT, 'bin/source-maps.mjs')).href];
    const [node, lazy] = await Promise.all([run(args('node')), run(args('lazy'))]);
    expect(lazy).toBe(node);
    // The comparison means something: frames are mapped to the .ts sources, with their names.
    const throwers = path.join(root, 'runtime', 'throwers.ts');
    expect(lazy).toContain(`at new Thing (${throwers}:8:`);
    expect(lazy).toContain(`at Thing.method (${throwers}:12:`);
    expect(lazy).toContain(`at inner (${throwers}:21:`);
    expect(lazy).toContain(`at async later (${throwers}:26:`);
    expect(lazy).toContain(`(${path.join(root, 'runtime', 'deeper', 'caller.ts')}:6:`);
    expect(lazy).toMatch(/^TypeError \[ERR_INVALID_ARG_TYPE\]: /m);
    expect(lazy).not.toContain('no error');
  });
});
