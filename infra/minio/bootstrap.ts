// infra/minio/bootstrap.ts
// Idempotent bucket set-up with the minio SDK: bucket, versioning, lifecycle for churny prefixes.

import http from 'node:http';
import https from 'node:https';
import { Client } from 'minio';

export interface BootstrapOptions {
  /** S3 endpoint URL of the MinIO server. */
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  region?: string;
}

/** Prefixes rewritten every few seconds: their old versions are noise after a day. */
export const CHURNY_PREFIXES = ['locks/', 'collector/status/', 'health/'] as const;
const NONCURRENT_DAYS = 1;

/** Creates the bucket when missing, turns versioning on and sets the lifecycle rules. Safe to repeat. */
export async function bootstrapBucket(options: BootstrapOptions): Promise<{ created: boolean }> {
  const url = new URL(options.endpoint);
  const client = new Client({
    endPoint: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    useSSL: url.protocol === 'https:',
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region: options.region ?? 'us-east-1',
    pathStyle: true,
    // Its own short-lived connections: the SDK's default is Node's global keep-alive agent, whose
    // idle sockets the server closes; one reused at that moment failed a later bootstrap in the same process.
    transportAgent: url.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false }),
  });
  const exists = await client.bucketExists(options.bucket);
  if (!exists) await client.makeBucket(options.bucket, options.region ?? 'us-east-1');
  // The NAS is the only truth: an accidental overwrite or delete must be recoverable.
  await client.setBucketVersioning(options.bucket, { Status: 'Enabled' });
  await client.setBucketLifecycle(options.bucket, {
    Rule: CHURNY_PREFIXES.map((prefix) => ({
      ID: `expire-noncurrent-${prefix.replace(/\/$/, '').replace(/\//g, '-')}`,
      Status: 'Enabled',
      Filter: { Prefix: prefix },
      NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_DAYS },
    })),
  });
  return { created: !exists };
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const env = process.env;
  const missing = ['BTC_TS_S3_ENDPOINT', 'BTC_TS_S3_ACCESS_KEY', 'BTC_TS_S3_SECRET_KEY'].filter((k) => !env[k]);
  if (missing.length) {
    console.error(`bootstrap: set ${missing.join(', ')}`);
    process.exit(2);
  }
  const bucket = env.BTC_TS_S3_BUCKET ?? 'btc-ts';
  bootstrapBucket({
    endpoint: env.BTC_TS_S3_ENDPOINT!,
    bucket,
    accessKey: env.BTC_TS_S3_ACCESS_KEY!,
    secretKey: env.BTC_TS_S3_SECRET_KEY!,
    region: env.BTC_TS_S3_REGION,
  }).then(
    (r) => console.log(`bootstrap: bucket ${bucket} ${r.created ? 'created' : 'already present'}; versioning on; lifecycle set for ${CHURNY_PREFIXES.join(' ')}`),
    (err) => {
      console.error(`bootstrap: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
