// runtime/secrets.ts
// Masks secret values anywhere they might leak: logs, audit, status, errors, handoff bundles.

import type { Secrets } from '../config/schema.ts';

export const MASK = '***';
/** Values shorter than this are not masked by value (masking "a" would shred every text). */
const MIN_MASKABLE_LENGTH = 4;

export interface Masker {
  /** Replaces every secret value in the text with ***. */
  text(input: string): string;
  /** Deep copy of a JSON-able value with secret values masked in every string. */
  value<T>(input: T): T;
  /** The secret values themselves, for scanning finished artefacts. */
  readonly values: readonly string[];
}

export function createMasker(secrets: Secrets, extra: readonly string[] = []): Masker {
  const values = [...Object.values(secrets), ...extra]
    .filter((v): v is string => typeof v === 'string' && v.length >= MIN_MASKABLE_LENGTH)
    .sort((a, b) => b.length - a.length);
  const pattern = values.length ? new RegExp(values.map(escapeRegExp).join('|'), 'g') : null;
  const text = (input: string) => (pattern ? input.replace(pattern, MASK) : input);
  const value = <T>(input: T): T => (pattern ? (JSON.parse(text(JSON.stringify(input) ?? 'null')) as T) : input);
  return { text, value, values };
}

/** Shows that a secret is set without showing it. */
export function describeSecret(value: string | undefined): string {
  return value ? `${MASK} (set, ${value.length} chars)` : '(unset)';
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
