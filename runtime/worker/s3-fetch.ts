// runtime/worker/s3-fetch.ts
// The object-store port over fetch (the AWS SDK's FetchHttpHandler): S3 / MinIO / R2 from a worker, where node:http does not exist.

import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { FetchHttpHandler } from '@smithy/fetch-http-handler';
import { BtcError } from '../errors.ts';
import { contentTypeOf, listPageCommand, mapError, stripQuotes, toListPage, type S3StoreOptions } from '../store/s3.ts';
import { validateKey, validatePrefix } from '../store/key-rules.ts';
import { ServerClock } from '../store/server-clock.ts';
import type { GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions, PutResult } from '../store/types.ts';

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ATTEMPTS = 3;

/**
 * The same contract as `createS3Store` (runtime/store/s3.ts: same keys, ETags, conditional puts and
 * BtcError codes through the same `mapError`, same key rules through key-rules.ts), but every call is one `fetch`: no agents, no
 * sockets, no node:http. Puts go through the SDK's PutObject with `If-None-Match` / `If-Match`
 * (S3 conditional writes; R2 and MinIO honour both) and a `Content-MD5` the server checks, as the
 * Node store's lean put does. Options about sockets (`maxSockets`, `ownPoolPrefixes`,
 * `connectTimeoutMs`) do not apply: fetch pools connections itself.
 */
export function createFetchS3Store(options: S3StoreOptions): ObjectStore {
  return new FetchS3Store(options);
}

class FetchS3Store implements ObjectStore {
  readonly describe: string;
  readonly serverClock = new ServerClock();
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.describe = `s3://${options.bucket}@${new URL(options.endpoint).host}`;
    this.client = new S3Client({
      endpoint: options.endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken },
      maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retryMode: 'standard',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: new FetchHttpHandler({ requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS }),
    });
    this.serverClock.bindSdkConfig(this.client.config);
  }

  async get(key: string): Promise<GetResult> {
    validateKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = Buffer.from(await res.Body!.transformToByteArray());
      return { key, body, etag: stripQuotes(res.ETag ?? ''), size: body.length, lastModified: res.LastModified?.getTime() ?? 0 };
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
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, etag: stripQuotes(res.ETag ?? ''), size: res.ContentLength ?? 0, lastModified: res.LastModified?.getTime() ?? 0 };
    } catch (err) {
      const mapped = mapError(err, key, this.serverClock);
      if (mapped.code === 'NotFound') return null;
      throw mapped;
    }
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<PutResult> {
    validateKey(key);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const md5 = options.md5 ? Buffer.from(options.md5, 'hex').toString('base64') : createHash('md5').update(bytes).digest('base64');
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentLength: bytes.length,
          ContentMD5: md5,
          ContentType: options.contentType ?? contentTypeOf(key),
          IfNoneMatch: options.ifNoneMatch,
          IfMatch: options.ifMatch,
        }),
      );
      return { key, etag: stripQuotes(res.ETag ?? '') };
    } catch (err) {
      throw mapError(err, key, this.serverClock);
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const mapped = mapError(err, key, this.serverClock);
      if (mapped.code !== 'NotFound') throw mapped;
    }
  }

  async listPage(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    validatePrefix(prefix);
    try {
      return toListPage(await this.client.send(listPageCommand(this.bucket, prefix, options)));
    } catch (err) {
      throw mapError(err, prefix, this.serverClock);
    }
  }
}
