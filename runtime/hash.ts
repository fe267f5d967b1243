// runtime/hash.ts
// Content hashes: sha256 hex for bundles, dashboard checksums, config fingerprints (ETags are MD5, in store/fs.ts).

import { createHash } from 'node:crypto';

export function sha256Hex(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex');
}
