// runtime/worker/build.ts
// Bundles the worker with esbuild: the same functions/*.ts (minus the Node-only ones), schedules/*.ts and config/app.yaml, for workerd with nodejs_compat.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_ROOT } from '../paths.ts';
import { isModule } from '../registry.ts';
import { NODE_ONLY } from './node-only.ts';

// The TypeScript sources, also when this file runs compiled from dist/: the worker is bundled from them.
const ROOT = PACKAGE_ROOT;
export const WORKER_ENTRY = path.join(ROOT, 'runtime/worker/index.ts');
/** The workerd date the bundle is built and tested against (miniflare 3.20250718 ships workerd 2025-07-18). */
export const COMPATIBILITY_DATE = '2025-07-18';
export const COMPATIBILITY_FLAGS = ['nodejs_compat'];

/**
 * Node modules workerd (2025-07-18, nodejs_compat) does not have. Code that imports them but never
 * calls them on a worker's path (the local write-ahead log, the Node S3 agents, the upload command)
 * is bundled against a stand-in whose every use throws, naming the module: a duty that reaches
 * one in a worker fails loudly (and is a defect to fix by moving the need into the context).
 */
const ABSENT_MODULES: Record<string, string[]> = {
  fs: ['promises', 'readdirSync', 'readFileSync', 'writeFileSync', 'existsSync', 'mkdirSync', 'statSync', 'unlinkSync', 'rmSync', 'renameSync', 'openSync', 'closeSync', 'fsyncSync', 'createReadStream', 'createWriteStream', 'mkdtempSync', 'constants'],
  'fs/promises': ['open', 'readFile', 'writeFile', 'appendFile', 'mkdir', 'rename', 'rm', 'stat', 'readdir', 'unlink', 'statfs'],
  child_process: ['spawn', 'execFile', 'exec', 'spawnSync', 'execFileSync'],
  http: ['Agent', 'request', 'get', 'createServer', 'STATUS_CODES'],
  https: ['Agent', 'request', 'get'],
  http2: ['connect', 'constants', 'ClientHttp2Session', 'ClientHttp2Stream'],
  os: ['hostname', 'type', 'release', 'arch', 'platform', 'tmpdir', 'homedir', 'networkInterfaces', 'freemem', 'totalmem', 'EOL', 'cpus'],
  net: ['connect', 'createConnection', 'isIP', 'Socket'],
  tls: ['connect'],
  worker_threads: ['Worker', 'isMainThread', 'parentPort', 'workerData'],
  perf_hooks: ['performance', 'monitorEventLoopDelay', 'PerformanceObserver'],
  v8: ['getHeapStatistics'],
  cluster: ['isPrimary', 'isMaster', 'workers'],
  readline: ['createInterface'],
};

const BUILTIN = /^(node:)?([a-z_0-9]+(\/[a-z_0-9]+)?)$/;

export interface WorkerBundle {
  /** The ES module workerd runs. */
  code: string;
  bytes: number;
  /** Duties bundled (runnable in the worker). */
  functions: string[];
  /** Node modules replaced by the throwing stand-in, with the files that import them. */
  absent: Record<string, string[]>;
}

/** @throws esbuild's BuildFailure when a module cannot be bundled (an unknown import from an absent Node module, …). */
export async function buildWorker(options: { minify?: boolean; outfile?: string } = {}): Promise<WorkerBundle> {
  const functionFiles = readdirSync(path.join(ROOT, 'functions')).filter(isModule).filter((f) => !NODE_ONLY.has(f.replace(/\.(ts|mjs|js)$/, ''))).sort();
  const scheduleFiles = readdirSync(path.join(ROOT, 'schedules')).filter(isModule).sort();
  const absent: Record<string, Set<string>> = {};

  const plugin: esbuild.Plugin = {
    name: 'btc-worker',
    setup(build) {
      build.onResolve({ filter: /^btc-worker:/ }, (args) => ({ path: args.path, namespace: 'btc-worker' }));
      build.onLoad({ filter: /.*/, namespace: 'btc-worker' }, (args) => {
        if (args.path === 'btc-worker:app-config') {
          const data = parseYaml(readFileSync(path.join(ROOT, 'config/app.yaml'), 'utf8')) ?? {};
          return { contents: `export default ${JSON.stringify(data)};`, loader: 'js' };
        }
        const imports = (dir: string, files: string[], prefix: string) =>
          files.map((f, i) => `import ${prefix}${i} from ${JSON.stringify(path.join(ROOT, dir, f))};`).join('\n');
        const list = (files: string[], prefix: string) => `[${files.map((f, i) => `{ file: ${JSON.stringify(f)}, value: ${prefix}${i} }`).join(', ')}]`;
        return {
          contents: [imports('functions', functionFiles, 'f'), imports('schedules', scheduleFiles, 's'), `export const functions = ${list(functionFiles, 'f')};`, `export const schedules = ${list(scheduleFiles, 's')};`].join('\n'),
          loader: 'js',
          resolveDir: ROOT,
        };
      });
      // The SDK's browser XML parser needs DOMParser, which workerd lacks (every S3 list would fail
      // with "S3 200"); its Node parser (fast-xml-parser) is plain JavaScript and runs there.
      build.onLoad({ filter: /xml-builder[\\/]dist-es[\\/]xml-parser\.browser\.js$/ }, (args) => ({
        contents: readFileSync(args.path.replace(/\.browser\.js$/, '.js'), 'utf8'),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      }));
      build.onResolve({ filter: BUILTIN }, (args) => {
        const m = BUILTIN.exec(args.path)!;
        const name = m[2]!;
        if (ABSENT_MODULES[name]) {
          (absent[`node:${name}`] ??= new Set()).add(path.relative(ROOT, args.importer));
          return { path: name, namespace: 'node-absent' };
        }
        // Bare names that are packages, not builtins, resolve normally.
        if (!m[1] && !NODE_BUILTINS.has(name)) return undefined;
        return { path: `node:${name}`, external: true };
      });
      build.onLoad({ filter: /.*/, namespace: 'node-absent' }, (args) => {
        const names = ABSENT_MODULES[args.path]!;
        return {
          contents: [
            `const fail = () => { throw new Error(${JSON.stringify(`node:${args.path} is not available in workerd: this code path needs the Node runtime`)}); };`,
            `const handler = { get: (_t, p) => (typeof p === 'symbol' || p === 'then' ? undefined : new Proxy(fail, handler)), apply: fail, construct: fail };`,
            `const absent = new Proxy(fail, handler);`,
            `export default absent;`,
            ...names.map((n) => `export const ${n} = absent;`),
          ].join('\n'),
          loader: 'js',
        };
      });
    },
  };

  const result = await esbuild.build({
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['browser', 'module', 'main'],
    minify: options.minify ?? false,
    // registry.ts derives its folders from import.meta.url at load; a bundle has no file of its own.
    define: { 'import.meta.url': JSON.stringify('file:///btc-ts-worker/runtime/worker.js') },
    plugins: [plugin],
    write: false,
    outfile: options.outfile ?? path.join(ROOT, 'dist/worker/index.js'),
    logLevel: 'silent',
  });
  const out = result.outputFiles[0]!;
  return {
    code: out.text,
    bytes: out.contents.length,
    functions: functionFiles.map((f) => f.replace(/\.(ts|mjs|js)$/, '')),
    absent: Object.fromEntries(Object.entries(absent).map(([k, v]) => [k, [...v].sort()])),
  };
}

/** Node's builtin module names (so a bare `stream` is external, a package `pino` is not). */
const NODE_BUILTINS = new Set([
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'console', 'constants', 'crypto', 'dgram', 'diagnostics_channel', 'dns', 'domain', 'events',
  'fs', 'http', 'http2', 'https', 'inspector', 'module', 'net', 'os', 'path', 'perf_hooks', 'process', 'punycode', 'querystring', 'readline', 'repl',
  'stream', 'string_decoder', 'sys', 'timers', 'tls', 'trace_events', 'tty', 'url', 'util', 'v8', 'vm', 'wasi', 'worker_threads', 'zlib',
]);

// `node bin/tsnode.mjs runtime/worker/build.ts [outfile]`: writes the bundle and prints its size.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const outfile = path.resolve(process.argv[2] ?? path.join(ROOT, 'dist/worker/index.js'));
  const bundle = await buildWorker({ minify: true, outfile });
  mkdirSync(path.dirname(outfile), { recursive: true });
  writeFileSync(outfile, bundle.code);
  console.log(JSON.stringify({ outfile, bytes: bundle.bytes, functions: bundle.functions, absent: bundle.absent }, null, 2));
}
