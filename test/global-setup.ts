// test/global-setup.ts
// Vitest global setup: one real MinIO for the whole run (built once, reused), its endpoint provided to tests.

import type { TestProject } from 'vitest/node';
import { startMinio, type MinioServer } from './helpers/minio.ts';

let server: MinioServer | undefined;

export async function setup(project: TestProject): Promise<void> {
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
