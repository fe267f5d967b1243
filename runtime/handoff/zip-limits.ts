// runtime/handoff/zip-limits.ts
// The caps a zip is read under (entries, bytes, ratio), apart from the reader itself: the bundle writer checks them too without loading yauzl and fflate.

/** Caps on what one archive may expand to. */
export interface UnzipLimits {
  /** Entries (files and directories) in the central directory. */
  maxEntries: number;
  /** Uncompressed bytes of any one entry. */
  maxEntryBytes: number;
  /** Uncompressed bytes of every entry read from one archive, together. */
  maxTotalBytes: number;
  /** Uncompressed ÷ compressed bytes of one entry, checked once the entry passes RATIO_FLOOR_BYTES. */
  maxRatio: number;
}

/**
 * `runtime handoff load` and the bundle's own final scan: a bundle holds repository text files of
 * at most handoff.maxFileBytes (512 KiB by default), small samples and YAML, so these leave
 * room for large repositories while a bomb stops at a few tens of MiB.
 */
export const BUNDLE_LIMITS: UnzipLimits = { maxEntries: 20_000, maxEntryBytes: 32 << 20, maxTotalBytes: 256 << 20, maxRatio: 100 };

/** Below this an entry may compress as well as it likes (a 1 MiB file of spaces is no threat). */
export const RATIO_FLOOR_BYTES = 1 << 20;
