// runtime/hash.ts
// Content hashes: sha256 hex for bundles, dashboard checksums, config fingerprints (ETags are MD5, in store/fs.ts).

import crypto, { createHash } from 'node:crypto';

/**
 * One-shot `crypto.hash` (Node ≥ 20.12) when there is one: no Hash object per call, which counts for
 * the thousands of small files of a handoff bundle.
 */
const oneShot = (crypto as { hash?: (algorithm: string, data: Buffer | string, encoding: 'hex') => string }).hash;

/** The SHA-256 of `body` (a string as UTF-8), as 64 lower-case hex digits. */
export function sha256Hex(body: Buffer | string): string {
  return oneShot ? oneShot('sha256', body, 'hex') : createHash('sha256').update(body).digest('hex');
}
