// test/store.clock-skew.test.ts
// S3Store against the real MinIO with a wrong clock offset: the lean PUT and the SDK learn the NAS's time and retry once; session tokens sign the lean PUT.

import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { isBtcError } from '../runtime/errors.ts';
import { storeErrorCause, StorageRouter } from '../runtime/store/router.ts';
import { createS3Store, type S3StoreOptions } from '../runtime/store/s3.ts';
import { NodeSha256 } from '../runtime/store/s3-put.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import type { ObjectStore } from '../runtime/store/types.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TWENTY_MINUTES_MS = 20 * 60_000;
/** The estimate comes from whole-second Date headers: within about a second of the truth on loopback. */
const OFFSET_TOLERANCE_MS = 2_000;

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function s3Options(extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  const m = inject('minio');
  return { endpoint: m.endpoint, bucket: m.bucket, accessKeyId: m.accessKey, secretAccessKey: m.secretKey, ...extra };
}

/** A store that believes the NAS is 20 minutes ahead: every request it signs is 20 minutes off until it learns better. */
function misinformedStore(extra: Partial<S3StoreOptions> = {}): ObjectStore {
  const store = createS3Store(s3Options(extra));
  store.serverClock!.observeWindow(TWENTY_MINUTES_MS, TWENTY_MINUTES_MS);
  expect(store.serverClock!.offsetMs).toBe(TWENTY_MINUTES_MS);
  return store;
}

describe('S3Store clock offset (real MinIO)', () => {
  it('every answer teaches the offset: a fresh store measures ~0 against a MinIO on this machine', async () => {
    const store = createS3Store(s3Options());
    expect(store.serverClock!.measured()).toBeNull();
    await store.put('skew/fresh.txt', 'x');
    expect(Math.abs(store.serverClock!.offsetMs)).toBeLessThan(OFFSET_TOLERANCE_MS);
    expect(store.serverClock!.measured()).not.toBeNull();
  });

  it('lean PUT signed 20 minutes off: refused with RequestTimeTooSkewed, corrected from the Date header, lands on the one retry', async () => {
    const store = misinformedStore();
    const put = await store.put('skew/lean.txt', 'lean');
    expect(put.etag).toMatch(/^[0-9a-f]{32}$/);
    expect(Math.abs(store.serverClock!.offsetMs)).toBeLessThan(OFFSET_TOLERANCE_MS);
    expect((await store.get('skew/lean.txt')).body.toString()).toBe('lean');
  });

  it('the SDK calls of the same store share the offset: a GET signed 20 minutes off is corrected by the SDK and retried', async () => {
    const store = misinformedStore();
    await createS3Store(s3Options()).put('skew/sdk.txt', 'sdk');
    expect((await store.get('skew/sdk.txt')).body.toString()).toBe('sdk');
    // The SDK wrote its correction into the shared offset: the lean PUT is right at its first try.
    expect(Math.abs(store.serverClock!.offsetMs)).toBeLessThan(OFFSET_TOLERANCE_MS);
    await store.put('skew/sdk-after.txt', 'x');
  });
});

describe('correction that fails', () => {
  it('a server that refuses every signature time: probe and SDK calls fail with cause RequestTimeTooSkewed, never "network" or AccessDenied', async () => {
    // No real S3 server keeps refusing a time taken from its own Date header, so a tiny HTTP
    // server plays one: it answers every request 403 RequestTimeTooSkewed with a Date header.
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => {
        res.writeHead(403, { 'content-type': 'application/xml', date: new Date().toUTCString() });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the server\'s time is too large.</Message></Error>');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as { port: number };
    const primary = createS3Store({ endpoint: `http://127.0.0.1:${port}`, bucket: 'b', accessKeyId: 'k', secretAccessKey: 'secret-k', maxAttempts: 1 });
    const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-skew-cache-'));
    cleanup.push(() => rmSync(root, { recursive: true, force: true }));
    const router = new StorageRouter({ primary, cache: createFsStore({ root }), host: 'h', probeTimeoutMs: 5_000, upAfterGoodProbes: 3, downAfterBadProbes: 1 });
    const probe = await router.probePrimary();
    expect(probe.ok).toBe(false);
    expect(probe.cause).toBe('RequestTimeTooSkewed');
    expect(probe.error).toMatch(/time sync/);
    // The lean PUT tried exactly twice: once, then once more at the corrected time.
    expect(requests).toBe(2);
    router.recordProbe(probe);
    expect(router.state().cause).toBe('RequestTimeTooSkewed');
    // The SDK path (GET) names the same cause, and says to fix the clock, not the keys.
    const err = await primary.get('k').catch((e: unknown) => e);
    expect(isBtcError(err)).toBe(true);
    expect(storeErrorCause(err)).toBe('RequestTimeTooSkewed');
    expect((err as Error).message).toMatch(/time sync \(NTP\)/);
    expect((err as Error).message).not.toMatch(/access denied/);
  });
});

describe('session token (temporary credentials from MinIO STS AssumeRole)', () => {
  it('the lean PUT and the SDK calls sign with x-amz-security-token; without the token the keys are refused', async () => {
    const temp = await assumeRole();
    const store = createS3Store(s3Options({ accessKeyId: temp.accessKeyId, secretAccessKey: temp.secretAccessKey, sessionToken: temp.sessionToken }));
    await store.put('skew/sts.txt', 'temporary');
    expect((await store.get('skew/sts.txt')).body.toString()).toBe('temporary');
    await store.put('skew/sts.txt', 'again', { ifMatch: (await store.head('skew/sts.txt'))!.etag });

    const noToken = createS3Store(s3Options({ accessKeyId: temp.accessKeyId, secretAccessKey: temp.secretAccessKey, maxAttempts: 1 }));
    const err = await noToken.put('skew/sts-no-token.txt', 'x').catch((e: unknown) => e);
    expect(isBtcError(err)).toBe(true);
    expect(['InvalidAccessKeyId', 'AccessDenied', 'InvalidToken', 'SignatureDoesNotMatch']).toContain(storeErrorCause(err));
  });
});

/** AssumeRole against the test MinIO with its root keys (STS API, signed like any AWS call, service "sts"). */
async function assumeRole(): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string }> {
  const m = inject('minio');
  const url = new URL(m.endpoint);
  const body = 'Action=AssumeRole&Version=2011-06-15&DurationSeconds=900';
  const signer = new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: { accessKeyId: m.accessKey, secretAccessKey: m.secretKey }, sha256: NodeSha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: '/',
    query: {},
    headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const res = await fetch(`${m.endpoint}/`, { method: 'POST', headers: signed.headers, body });
  const xml = await res.text();
  expect(res.status, xml).toBe(200);
  const field = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(xml)?.[1] ?? '';
  return { accessKeyId: field('AccessKeyId'), secretAccessKey: field('SecretAccessKey'), sessionToken: field('SessionToken') };
}
