// runtime/store/s3.ts
// S3Store: the object-store port over any S3-compatible endpoint (MinIO on the NAS, AWS S3, R2).

import http from 'node:http';
import https from 'node:https';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BtcError } from '../errors.ts';
import { createSignedPut, type SignedPut } from './s3-put.ts';
import { validateKey, validatePrefix } from './key-rules.ts';
import { CLOCK_SKEW_CODE, mapS3Failure } from './s3-errors.ts';
import { ServerClock } from './server-clock.ts';
import type { DeleteOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult } from './types.ts';

export interface S3StoreOptions {
  /** Endpoint URL, e.g. `http://nas.local:9000`. */
  endpoint: string;
  /** Bucket name (the primary is `btc-ts`). */
  bucket: string;
  /** Region; MinIO ignores it, AWS needs it. */
  region?: string;
  /** Access key id (secret: never logged). */
  accessKeyId: string;
  /** Secret access key (secret: never logged). */
  secretAccessKey: string;
  /** Session token of temporary credentials (STS, `AWS_SESSION_TOKEN` style; secret: never logged). */
  sessionToken?: string;
  /** Per-request socket timeout (ms); a NAS that stops answering fails fast. */
  requestTimeoutMs?: number;
  /** TCP connect timeout (ms). */
  connectTimeoutMs?: number;
  /** Attempts per call including the first; retries only 5xx, throttling and network errors. */
  maxAttempts?: number;
  /** Keep-alive sockets per host. */
  maxSockets?: number;
  /**
   * Keys under these prefixes get a connection pool of their own (own agents, SDK client and lean
   * PUT, PRIORITY_SOCKETS sockets): the lease (`locks/`) is never queued behind bulk uploads.
   */
  ownPoolPrefixes?: string[];
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_MAX_SOCKETS = 64;
const MAX_PAGE = 1000;
/** Sockets of an own pool: the lease needs one at a time (a renew, maybe a read after a 412). */
const PRIORITY_SOCKETS = 4;
/** A skew refusal that moved the offset by less than this taught nothing new: no retry. */
const SKEW_RETRY_MIN_CHANGE_MS = 1000;

export function createS3Store(options: S3StoreOptions): ObjectStore {
  return new S3Store(options);
}

/**
 * The configured S3 client, shared so benchmarks can compare the adapter with the bare SDK. With
 * `serverClock`, the client's clock-skew correction (`config.systemClockOffset`) is that object.
 */
export function createS3Client(options: S3StoreOptions, serverClock?: ServerClock): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
  const client = new S3Client({
    endpoint: options.endpoint,
    region: options.region ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken },
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard', // exponential backoff with full jitter; 4xx are never retried
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      connectionTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    }),
  });
  serverClock?.bindSdkConfig(client.config);
  return client;
}

/** One set of connections to the endpoint: an SDK client and a lean PUT, each with its own agent. */
interface Pool {
  client: S3Client;
  /** PutObject without the SDK's middleware stack: segment upload is the hottest call there is. */
  signedPut: SignedPut;
}

class S3Store implements ObjectStore {
  readonly describe: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly bulk: Pool;
  private readonly own: Array<{ prefix: string; pool: Pool }>;
  /** One offset to the server's clock for every pool's SDK calls and lean PUTs. */
  readonly serverClock = new ServerClock();

  constructor(options: S3StoreOptions) {
    this.bulk = createPool(options, this.serverClock);
    this.client = this.bulk.client;
    this.own = (options.ownPoolPrefixes ?? []).map((prefix) => ({ prefix, pool: createPool({ ...options, maxSockets: PRIORITY_SOCKETS }, this.serverClock) }));
    this.bucket = options.bucket;
    this.describe = `s3://${options.bucket}@${new URL(options.endpoint).host}`;
  }

  /** The pool a key's calls use: its own for the ownPoolPrefixes, else the bulk one. */
  private poolOf(key: string): Pool {
    for (const own of this.own) if (key.startsWith(own.prefix)) return own.pool;
    return this.bulk;
  }

  /**
   * One SDK call, once more when it was refused for clock skew and the refusal moved the shared
   * offset by more than a second. The SDK retries a skew refusal itself only when the corrected
   * offset is over 4 minutes (@aws-sdk/core AwsSdkSigV4Signer.errorHandler), i.e. when this PC is
   * off; a stale estimate (the NAS's clock was stepped) would otherwise fail one call.
   */
  private async send<T>(call: () => Promise<T>): Promise<T> {
    const before = this.serverClock.offsetMs;
    try {
      return await call();
    } catch (err) {
      if ((err as Error)?.name !== CLOCK_SKEW_CODE || Math.abs(this.serverClock.offsetMs - before) <= SKEW_RETRY_MIN_CHANGE_MS) throw err;
      return call();
    }
  }

  async get(key: string): Promise<GetResult> {
    validateKey(key);
    try {
      const res = await this.send(() => this.poolOf(key).client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key })));
      const body = Buffer.from(await res.Body!.transformToByteArray());
      return {
        key,
        body,
        etag: stripQuotes(res.ETag ?? ''),
        size: body.length,
        lastModified: res.LastModified?.getTime() ?? 0,
      };
    } catch (err) {
      throw mapError(err, key, this.serverClock);
    }
  }

  async getOrNull(key: string): Promise<GetResult | null> {
    try {
      return await this.get(key);
    } catch (err) {
      if (err instanceof BtcError && err.code === 'NotFound') return null;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    validateKey(key);
    try {
      const res = await this.send(() => this.poolOf(key).client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return {
        key,
        etag: stripQuotes(res.ETag ?? ''),
        size: res.ContentLength ?? 0,
        lastModified: res.LastModified?.getTime() ?? 0,
      };
    } catch (err) {
      const mapped = mapError(err, key, this.serverClock);
      if (mapped.code === 'NotFound') return null;
      throw mapped;
    }
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<PutResult> {
    validateKey(key);
    return this.poolOf(key).signedPut(key, typeof body === 'string' ? Buffer.from(body) : body, { ...options, contentType: options.contentType ?? contentTypeOf(key) });
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    validateKey(key);
    try {
      const ifMatch = options.ifMatch === undefined ? undefined : `"${options.ifMatch.replace(/^"|"$/g, '')}"`;
      await this.send(() => this.poolOf(key).client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: ifMatch })));
    } catch (err) {
      const mapped = mapError(err, key, this.serverClock);
      if (mapped.code !== 'NotFound') throw mapped;
    }
  }

  async listPage(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    validatePrefix(prefix);
    try {
      return toListPage(await this.send(() => this.client.send(listPageCommand(this.bucket, prefix, options))));
    } catch (err) {
      throw mapError(err, prefix, this.serverClock);
    }
  }
}

function createPool(options: S3StoreOptions, serverClock: ServerClock): Pool {
  return {
    client: createS3Client(options, serverClock),
    signedPut: createSignedPut({
      endpoint: options.endpoint,
      bucket: options.bucket,
      region: options.region ?? 'us-east-1',
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      sessionToken: options.sessionToken,
      serverClock,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS,
    }),
  };
}

/**
 * An SDK error (or a network failure under it) as a BtcError, through the one S3 error map
 * (s3-errors.ts mapS3Failure). A RequestTimeTooSkewed reaching here is one the SDK could not
 * correct (its retry at the corrected time was refused too, or retries are off): its cause is the clock.
 */
export function mapError(err: unknown, key: string, serverClock: ServerClock): BtcError {
  if (err instanceof BtcError) return err;
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const name = err instanceof S3ServiceException ? err.name : (err as Error)?.name;
  const reason = (err as NodeJS.ErrnoException)?.code ?? name;
  return mapS3Failure({ status, code: name, key, cause: err, reason, skewMs: name === CLOCK_SKEW_CODE ? -serverClock.offsetMs : undefined }).error;
}

export function stripQuotes(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

export function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.jsonl')) return 'application/x-ndjson';
  if (key.endsWith('.csv')) return 'text/csv';
  if (key.endsWith('.zip')) return 'application/zip';
  return 'application/octet-stream';
}

/** The ListObjectsV2 request for one page of keys under `prefix` (S3 caps a page at 1000 keys). */
export function listPageCommand(bucket: string, prefix: string, options: ListOptions): ListObjectsV2Command {
  return new ListObjectsV2Command({
    Bucket: bucket,
    Prefix: prefix,
    StartAfter: options.startAfter || undefined,
    MaxKeys: Math.min(Math.max(options.limit ?? MAX_PAGE, 1), MAX_PAGE),
  });
}

/** A ListObjectsV2 answer as a ListPage: ETags without quotes, `IsTruncated` → `nextStartAfter`. */
export function toListPage(res: ListObjectsV2CommandOutput): ListPage {
  const objects: ObjectInfo[] = (res.Contents ?? []).map((o) => ({
    key: o.Key!,
    etag: stripQuotes(o.ETag ?? ''),
    size: o.Size ?? 0,
    lastModified: o.LastModified?.getTime() ?? 0,
  }));
  const last = objects[objects.length - 1];
  return res.IsTruncated && last ? { objects, nextStartAfter: last.key } : { objects };
}
