// ops/bench/run.ts
// `npm run bench -- <name> [args…]`: runs ops/bench/<name>.ts and prints its figures as JSON.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(HERE)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_')) // _name.ts: a helper, not a benchmark
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || name === '--help' || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args…]\nbenchmarks: ${available.join(', ')}`);
  process.exit(name && name !== '--help' ? 2 : 0);
}
const mod = (await import(pathToFileURL(path.join(HERE, `${name}.ts`)).href)) as { default: (args: string[]) => Promise<unknown> };
const started = Date.now();
const figures = await mod.default(args);
process.stdout.write(
  JSON.stringify({ bench: name, at: new Date().toISOString(), node: process.version, elapsed_ms: Date.now() - started, ...(figures as object) }, null, 2) + '\n',
);
process.exit(0);
