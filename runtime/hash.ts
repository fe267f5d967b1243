// runtime/hash.ts
// Content hashes: sha256 hex for bundles, dashboard checksums, config fingerprints (ETags are MD5, in store/fs.ts).

import { hash } from 'node:crypto';

/**
 * The SHA-256 of `body` (a string as UTF-8), as 64 lower-case hex digits. One-shot `crypto.hash`
 * (Node 20.12+, under the 20.15 floor package.json names): no Hash object per call, which counts
 * for the thousands of small files of a handoff bundle.
 */
export function sha256Hex(body: Buffer | string): string {
  return hash('sha256', body, 'hex');
}
