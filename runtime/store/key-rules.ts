// runtime/store/key-rules.ts
// The object-key rules of the store port: every adapter (S3, directory, fetch) accepts the same keys and list prefixes.

import { BtcError } from '../errors.ts';

/**
 * S3's limit on an object key: 1024 bytes of UTF-8 (AWS S3 user guide, "Naming Amazon S3 objects":
 * "The object key name is a sequence of Unicode characters with UTF-8 encoding of up to 1,024
 * bytes long"; MinIO enforces the same).
 */
export const MAX_KEY_BYTES = 1024;

/** C0 controls and DEL: S3 lists keys in XML 1.0, which cannot carry most of them, and a file name must not. */
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(key: string, why: string): BtcError {
  return new BtcError('InvalidKey', `invalid key ${JSON.stringify(key)}: ${why}`, { details: { key } });
}

/** The rules a key and a list prefix share: UTF-8 length, no control characters, no backslash. */
function checkCharacters(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw invalid(key, `longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
  const control = CONTROL.exec(key);
  if (control) throw invalid(key, control[0] === '\0' ? 'contains NUL' : 'contains a control character');
  if (key.includes('\\')) throw invalid(key, 'contains a backslash');
}

/**
 * Refuses a key that S3 and a directory would treat differently, or that could escape a
 * directory store's root or alias another key: empty; over 1024 bytes of UTF-8; a NUL or other
 * control character; a backslash; absolute (`/x`, `C:/x`); an empty segment (`a//b`, `a/`); a `.`
 * or `..` segment. Every adapter calls it before any I/O, for put, get, head and delete.
 * @throws BtcError InvalidKey, `details.key` = the key.
 */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw invalid(String(key), 'empty');
  checkCharacters(key);
  if (key.startsWith('/') || /^[A-Za-z]:/.test(key)) throw invalid(key, 'absolute');
  const segments = key.split('/');
  if (segments.some((s) => s === '')) throw invalid(key, 'empty path segment');
  if (segments.some((s) => s === '.' || s === '..')) throw invalid(key, 'dot segment');
}

/**
 * Refuses a list prefix no valid key could start with: `''` lists everything; otherwise the part
 * up to the last `/` must be a valid key (so no leading `/`, `//`, `.`/`..` segments), and the
 * whole prefix obeys the character and length rules. The part after the last `/` is a partial
 * segment (`dt=`, `list.`, `.h`), except exactly `.` or `..`, which MinIO refuses as a prefix
 * (400 XMinioInvalidResourceName), so every adapter does.
 * @throws BtcError InvalidKey.
 */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return;
  checkCharacters(prefix);
  const slash = prefix.lastIndexOf('/');
  const tail = prefix.slice(slash + 1);
  if (tail === '.' || tail === '..') throw invalid(prefix, 'prefix ends in a dot segment');
  if (slash < 0) return;
  try {
    validateKey(prefix.slice(0, slash));
  } catch (err) {
    throw invalid(prefix, `prefix: ${(err as BtcError).message.replace(/^invalid key "(?:[^"\\]|\\.)*": /, '')}`);
  }
}
