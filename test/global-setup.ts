// test/global-setup.ts
// Vitest global setup: compiles dist/ when stale (spawned runtimes then start from JavaScript), one real MinIO for the whole run (built once, reused), its endpoint provided to tests.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startMinio, type MinioServer } from './helpers/minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let server: MinioServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  // Every test that spawns bin/runtime.mjs then runs the compiled code: seconds saved per spawned
  // runtime. A source edited during the run makes dist/ stale, and those spawns fall back to tsx.
  const built = Date.now();
  execFileSync(process.execPath, [path.join(ROOT, 'bin/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit', timeout: 120_000 });
  console.log(`[global-setup] dist/ up to date in ${Date.now() - built} ms`);
  const started = Date.now();
  server = await startMinio();
  console.log(`[global-setup] MinIO ready at ${server.endpoint} in ${Date.now() - started} ms`);
  project.provide('minio', {
    endpoint: server.endpoint,
    bucket: server.bucket,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
  });
}

export async function teardown(): Promise<void> {
  await server?.dispose();
}

declare module 'vitest' {
  export interface ProvidedContext {
    minio: { endpoint: string; bucket: string; accessKey: string; secretKey: string };
  }
}
