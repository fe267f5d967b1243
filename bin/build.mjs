#!/usr/bin/env node
// bin/build.mjs
// Compiles the TypeScript the runtime reaches (runtime/, functions/, schedules/, config/, infra/) to dist/ with esbuild, so `runtime` starts without transpiling.

// `node bin/build.mjs`         build (what `npm install` runs through "prepare", and `npm run build`)
// `node bin/build.mjs --if-stale` build only when dist/ is missing or older than the sources (test/global-setup.ts)
// `node bin/build.mjs --check`  print whether dist/ is fresh (exit 0) or stale (exit 1), build nothing
// `node bin/build.mjs --prepare` as plain, but a failed build only warns (exit 0): `npm install` still
//                                completes and `runtime` runs the sources through tsx, as before there was a build
//
// One file in, one file out: dist/ mirrors the tree (runtime/cli/main.ts → dist/runtime/cli/main.js,
// a .tsx page → .js) with a linked source map, so a stack trace names the .ts line. Every import is
// left to Node at run time; only relative `.ts`/`.tsx` specifiers are rewritten to `.js`, and the
// VENDORED packages (bin/dist-stamp.mjs: zod, yaml) are bundled into one file each, dist/vendor/<name>.js,
// which the compiled files import by relative path instead of the package (Node loads 1 file, not ~95).
// The sources (and tsx) keep importing the packages. tsconfig.json applies (JSX: hono/jsx). Plain
// JavaScript, no shell: runs the same on Windows.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCE_DIRS, distState, listSources, STAMP_FILE, VENDOR_DIR, VENDORED } from './dist-stamp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TS = /\.(ts|tsx|mts)$/;

/**
 * Builds dist/ from the sources. Returns { files, ms }.
 * @throws Error (esbuild's BuildFailure, or an import of a file outside the compiled folders) — nothing
 *   is stamped then, so `runtime` keeps running the sources through tsx.
 */
export async function build({ root = ROOT, quiet = false } = {}) {
  const started = performance.now();
  const esbuild = await import('esbuild');
  const dist = path.join(root, 'dist');
  // The stamp goes first and comes back last: a half-written dist/ is never taken for a fresh one.
  rmSync(path.join(dist, STAMP_FILE), { force: true });
  const { files, fingerprint } = listSources(root);
  const entries = files.filter((f) => TS.test(f) && !f.endsWith('.d.ts') && !/\.test\.tsx?$/.test(f));
  // Windows paths compare without case (esbuild and Node may spell the drive letter differently).
  const key = (file) => (process.platform === 'win32' ? path.resolve(file).toLowerCase() : path.resolve(file));
  const built = new Set(entries.map((f) => key(path.join(root, f))));
  const vendored = await vendor(esbuild, root, path.join(dist, VENDOR_DIR));
  const plugin = {
    name: 'btc-ts-one-file',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        // A vendored package: its bundle, by a path relative to the importer's output (dist/ mirrors the tree).
        const pkg = VENDORED.find((name) => args.path === name || args.path.startsWith(`${name}/`));
        if (pkg && args.path !== pkg) return { errors: [{ text: `${path.relative(root, args.importer)} imports ${args.path}: import '${pkg}' itself (it is bundled into dist/${VENDOR_DIR}/${pkg}.js; a subpath would load a second copy)` }] };
        if (pkg) {
          const rel = path.relative(args.resolveDir, path.join(root, VENDOR_DIR, `${pkg}.js`)).split(path.sep).join('/');
          return { path: rel.startsWith('.') ? rel : `./${rel}`, external: true };
        }
        // Packages and node: builtins: Node resolves them at run time, as it would from the source.
        if (!args.path.startsWith('.') && !path.isAbsolute(args.path)) return { path: args.path, external: true };
        if (!TS.test(args.path)) return { path: args.path, external: true };
        if (!built.has(key(path.resolve(args.resolveDir, args.path)))) {
          return { errors: [{ text: `${path.relative(root, args.importer)} imports ${args.path}, which is not compiled (outside ${SOURCE_DIRS.join(', ')}, or a test)` }] };
        }
        return { path: args.path.replace(TS, '.js'), external: true };
      });
    },
  };
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: entries,
    outdir: dist,
    outbase: root,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    sourcesContent: false,
    // Strings stay as written (an em dash, not \u2014): the output reads like the source.
    charset: 'utf8',
    tsconfig: path.join(root, 'tsconfig.json'),
    plugins: [plugin],
    write: false,
    logLevel: 'silent',
  });
  for (const out of result.outputFiles) writeAtomically(out.path, out.contents);
  // Plain JavaScript modules (a duty or schedule written as .mjs/.js, which runtime/registry.ts loads)
  // are copied as they are, so dist/ has every module the sources have.
  const copied = files.filter((f) => /\.(mjs|js)$/.test(f)).map((f) => {
    const out = path.join(dist, f);
    writeAtomically(out, readFileSync(path.join(root, f)));
    return out;
  });
  // Then the leftovers of deleted or renamed sources. Nothing this build wrote is ever removed, so
  // two builds at once (two test runs in one checkout) cannot leave a stamped dist/ with files missing.
  const written = new Set([...result.outputFiles.map((out) => key(out.path)), ...copied.map(key), ...vendored.map(key)]);
  for (const dir of [...SOURCE_DIRS, VENDOR_DIR]) removeOthers(path.join(dist, dir), written, key);
  // The sources as the build saw them: any change since makes dist/ stale (bin/dist-stamp.mjs, bin/runtime.mjs).
  writeAtomically(path.join(dist, STAMP_FILE), JSON.stringify({ fingerprint, files: entries.length, builtAt: new Date().toISOString() }) + '\n');
  const ms = Math.round(performance.now() - started);
  if (!quiet) console.log(`btc-ts: compiled ${entries.length} files to ${path.relative(process.cwd(), dist) || dist} in ${ms} ms`);
  return { files: entries.length, ms };
}

/**
 * Bundles each VENDORED package into `<dir>/<name>.js` (ESM, every export Node's own import of the
 * package gives, `default` included), and returns the files written. No source map: the bundle is
 * the package's code unminified, so a stack trace inside it reads as it is.
 * @throws Error when a package cannot be bundled or its bundle would export nothing.
 */
async function vendor(esbuild, root, dir) {
  const files = [];
  for (const name of VENDORED) {
    const bundle = async (contents) =>
      esbuild.build({
        stdin: { contents, resolveDir: root, sourcefile: `${name}.vendor.mjs`, loader: 'js' },
        bundle: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        charset: 'utf8',
        metafile: true,
        write: false,
        logLevel: 'silent',
        plugins: VENDOR_TRIMS[name] ?? [],
        // A CommonJS package's require() of a Node builtin (yaml: `process`) needs a real require in an ES module.
        banner: { js: "import { createRequire as __vendorRequire } from 'node:module';\nconst require = __vendorRequire(import.meta.url);" },
      });
    // An ES module package: `export *` carries every name. A CommonJS one (yaml): esbuild cannot list
    // its names statically, so they are named, as Node's import would give them (its own keys).
    let result = await bundle(`export * from '${name}';\nexport { default } from '${name}';\n`);
    if (exportsOf(result).length <= 1) {
      const { createRequire } = await import('node:module');
      const names = Object.keys(createRequire(path.join(root, 'package.json'))(name)).filter((n) => n !== 'default' && n !== '__esModule' && /^[A-Za-z_$][\w$]*$/.test(n));
      if (names.length === 0) throw new Error(`vendoring ${name}: it exports no names`);
      result = await bundle(`export { ${names.join(', ')} } from '${name}';\nexport { default } from '${name}';\n`);
    }
    const out = path.join(dir, `${name}.js`);
    writeAtomically(out, `// dist/${VENDOR_DIR}/${name}.js\n// The ${name} package bundled into one file by bin/build.mjs (the compiled files import it instead of the package).\n${result.outputFiles[0].text}`);
    files.push(out);
  }
  return files;
}

/**
 * What a vendored bundle leaves out. zod: every locale but English. `z.locales` is a namespace of
 * ~60 message translations, all loaded with `zod` although only the default (`en`, which zod
 * configures itself) is ever used here: half the bundle, ~5 ms of every start. `z.locales.en`
 * stays; any other `z.locales.<lang>` is undefined in dist/ (the sources through tsx keep them).
 */
const VENDOR_TRIMS = {
  zod: [
    {
      name: 'zod-english-only',
      setup(b) {
        b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: "export { default as en } from './en.js';\n", loader: 'js' }));
      },
    },
  ],
};

function exportsOf(result) {
  return Object.values(result.metafile.outputs)[0]?.exports ?? [];
}

/** Deletes every file under `dir` whose key is not in `keep` (a missing dir is fine). */
function removeOthers(dir, keep, key) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) removeOthers(file, keep, key);
    else if (!keep.has(key(file)) && !entry.name.endsWith('.tmp')) rmSync(file, { force: true });
  }
}

/** Write to a temporary name, then rename: a runtime starting meanwhile reads the old file or the new one, never half of one. */
function writeAtomically(file, contents) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  try {
    renameSync(tmp, file);
  } catch {
    // Windows refuses to replace a file another process holds open: write in place instead.
    rmSync(tmp, { force: true });
    writeFileSync(file, contents);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  try {
    if (args.includes('--check')) {
      const state = distState(ROOT);
      console.log(`dist/ ${state.fresh ? 'fresh' : `stale: ${state.reason}`}`);
      process.exitCode = state.fresh ? 0 : 1;
    } else if (args.includes('--if-stale') && distState(ROOT).fresh) {
      // Nothing to do.
    } else {
      await build();
    }
  } catch (err) {
    console.error(`btc-ts build failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error('`runtime` still works: it runs the TypeScript sources through tsx (slower to start).');
    process.exitCode = args.includes('--prepare') ? 0 : 1;
  }
}
