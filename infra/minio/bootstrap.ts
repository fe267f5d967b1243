// infra/minio/bootstrap.ts
// Idempotent bucket set-up with the minio SDK: bucket, versioning (churny prefixes excluded), lifecycle for churny prefixes.

import { realpathSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'minio';

export interface BootstrapOptions {
  /** S3 endpoint URL of the MinIO server. */
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  region?: string;
  /**
   * false: version the churny prefixes too (the set-up before issue 13; tests use it to show
   * MaxVersionsExceeded). Default true.
   */
  excludeChurny?: boolean;
}

/**
 * Prefixes rewritten every few seconds (lease every heartbeat, probe and status every probe, the
 * latest CSVs every tick; all of them rebuilt by the next write, none the truth): excluded from versioning, so each keeps one version instead of tens of thousands (MinIO
 * refuses a PUT past `MINIO_API_OBJECT_MAX_VERSIONS`, 10,000 by default, with 400
 * MaxVersionsExceeded). MinIO allows at most 10 excluded prefixes, each ending in `/`
 * (internal/bucket/versioning/versioning.go); AWS S3 ignores the element.
 */
export const CHURNY_PREFIXES = ['locks/', 'collector/status/', 'health/', 'latest/'] as const;
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
  // The NAS is the only truth: an accidental overwrite or delete of raw/, audit/, state/ or
  // handoff/ must be recoverable; the churny prefixes keep one version (see CHURNY_PREFIXES).
  const excluded = options.excludeChurny === false ? [] : CHURNY_PREFIXES.map((Prefix) => ({ Prefix }));
  await client.setBucketVersioning(options.bucket, { Status: 'Enabled', ...(excluded.length ? { ExcludedPrefixes: excluded } : {}) });
  // Kept for buckets versioned before the exclusions and for servers that ignore them.
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

/**
 * Whether the module at `moduleUrl` (its import.meta.url) is the entry point named by `argv1`.
 * Compares file paths, not a hand-made `file://` + path string: that is never a file URL on
 * Windows (`C:\…`) and never equals a URL whose spaces or non-ASCII letters are %-encoded. Both
 * sides are resolved through symlinks (Node runs the real path of the entry file) and compared
 * without case on Windows (drive letters and folder names are case-insensitive there).
 */
export function isMainModule(moduleUrl: string, argv1: string | undefined = process.argv[1], platform: NodeJS.Platform = process.platform): boolean {
  if (!argv1) return false;
  const real = (file: string) => {
    try {
      return realpathSync(file);
    } catch {
      return path.resolve(file);
    }
  };
  const self = real(fileURLToPath(moduleUrl));
  const entry = real(path.resolve(argv1));
  return platform === 'win32' ? self.toLowerCase() === entry.toLowerCase() : self === entry;
}

if (isMainModule(import.meta.url)) {
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
    (r) => console.log(`bootstrap: bucket ${bucket} ${r.created ? 'created' : 'already present'}; versioning on except ${CHURNY_PREFIXES.join(' ')}; lifecycle set for them`),
    (err) => {
      console.error(`bootstrap: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
