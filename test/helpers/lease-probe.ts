// test/helpers/lease-probe.ts
// Watching the collector lease from outside real runtimes: /health polls, audit lines in their output, a fresh bucket.

import { randomBytes } from 'node:crypto';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import type { RuntimeProcess } from './runtime-process.ts';

export interface LeaderHealth {
  host: string;
  leader: { host: string | null; epoch: number; self: boolean; degraded?: boolean };
}

/** GET /health with a short timeout; null while the process is down or too slow to answer. */
export async function healthOf(rt: RuntimeProcess, timeoutMs = 2_000): Promise<LeaderHealth | null> {
  try {
    const res = await fetch(`${rt.url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? ((await res.json()) as LeaderHealth) : null;
  } catch {
    return null;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until `rt` says it holds the lease; its /health at that moment. */
export function waitForHolder(rt: RuntimeProcess, timeoutMs: number, everyMs = 25): Promise<LeaderHealth> {
  return waitFor(`${rt.host} to hold the lease`, async () => {
    const h = await healthOf(rt);
    return h?.leader.self && h;
  }, timeoutMs, everyMs);
}

export interface AuditLine {
  audit: string;
  /** pino's ISO timestamp of the line (the process's real clock, not the skewed one). */
  time?: string;
  [key: string]: unknown;
}

/** The audit events a runtime logged (pino JSON lines carry `audit: <event>` plus the payload). */
export function auditLines(rt: RuntimeProcess, event?: string): AuditLine[] {
  const lines: AuditLine[] = [];
  for (const line of rt.output().split('\n')) {
    if (!line.includes('"audit"')) continue;
    try {
      const parsed = JSON.parse(line) as AuditLine;
      if (typeof parsed.audit === 'string' && (!event || parsed.audit === event)) lines.push(parsed);
    } catch {
      // a partial line at the end of the buffer
    }
  }
  return lines;
}

/**
 * Waits for an audit line of `event` whose fields equal `expected` (a RegExp tests a string field):
 * pino writes asynchronously, so a line may show up a moment after /health already tells.
 */
export function waitForAudit(rt: RuntimeProcess, event: string, expected: Record<string, unknown>, timeoutMs = 5_000): Promise<AuditLine> {
  const matches = (line: AuditLine) =>
    Object.entries(expected).every(([k, v]) => (v instanceof RegExp ? typeof line[k] === 'string' && v.test(line[k] as string) : line[k] === v));
  return waitFor(`${rt.host}: audit ${event} ${JSON.stringify(expected)}`, async () => auditLines(rt, event).find(matches), timeoutMs);
}

/** A bucket of its own on a shared MinIO, so the fixed lease key never meets another test's. */
export async function freshBucket(minio: { endpoint: string; accessKey: string; secretKey: string }, prefix: string): Promise<string> {
  const bucket = `${prefix}-${randomBytes(4).toString('hex')}`;
  await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
  return bucket;
}

/** Env for a runtime on `endpoint`/`bucket` with short lease timings. */
export function leaseEnv(
  minio: { accessKey: string; secretKey: string },
  endpoint: string,
  bucket: string,
  timings: { leaseSeconds: number; heartbeatSeconds: number },
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    BTC_TS_S3_ENDPOINT: endpoint,
    BTC_TS_S3_BUCKET: bucket,
    BTC_TS_S3_ACCESS_KEY: minio.accessKey,
    BTC_TS_S3_SECRET_KEY: minio.secretKey,
    BTC_TS_LEASE_SECONDS: String(timings.leaseSeconds),
    BTC_TS_HEARTBEAT_SECONDS: String(timings.heartbeatSeconds),
    ...extra,
  };
}
