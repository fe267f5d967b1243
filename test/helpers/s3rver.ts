// test/helpers/s3rver.ts
// A real S3 server that ignores If-None-Match / If-Match on PUT (s3rver from npm), on a loopback port with its own directory.

import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** s3rver's fixed key pair (it checks SigV4 signatures against it). */
export const S3RVER_ACCESS_KEY = 'S3RVER';
export const S3RVER_SECRET_KEY = 'S3RVER';

export interface WeakS3Server {
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** Closes the server and removes its directory. */
  dispose(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/**
 * Starts s3rver 3.7 in-process (tens of ms) with `bucket` created. It stores and serves objects
 * like S3 but lets every conditional PUT through: a second `If-None-Match: *`, a stale
 * `If-Match`, an `If-Match` on a missing key (checked by hand and by test/conditional-writes.test.ts).
 */
export async function startWeakS3(bucket = 'btc-ts'): Promise<WeakS3Server> {
  // CommonJS without types: loaded through require so the test needs no @types package.
  const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;
  const directory = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  try {
    const { port } = await server.run();
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      accessKey: S3RVER_ACCESS_KEY,
      secretKey: S3RVER_SECRET_KEY,
      async dispose() {
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(directory, { recursive: true, force: true });
    throw err;
  }
}
