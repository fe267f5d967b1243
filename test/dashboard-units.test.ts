// test/dashboard-units.test.ts
// Pure parts of the dashboard export: nearest-rank percentiles, 4 KB log lines, gap detection, index packing.

import { describe, expect, it } from 'vitest';
import { fitLine, missingSequences } from '../runtime/dashboard-export/automation-log.ts';
import { packIndex, unpackIndex } from '../runtime/dashboard-export/incremental.ts';
import { percentile } from '../runtime/dashboard-export/raw-datasets.ts';
import { AUTOMATION_LINE_MAX_BYTES, automationEntrySchema } from '../runtime/dashboard-export/schemas.ts';

describe('dashboard export parts', () => {
  it('percentile is nearest-rank: a value that occurred', () => {
    const v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect([percentile(v, 50), percentile(v, 95), percentile(v, 99), percentile(v, 10)]).toEqual([5, 10, 10, 1]);
    expect(percentile([42], 99)).toBe(42);
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(hundred, 50), percentile(hundred, 95), percentile(hundred, 99)]).toEqual([50, 95, 99]);
  });

  it('an automation line with huge diagnostics is cut below 4 KB and stays schema-valid', () => {
    const entry = {
      sequence: 7,
      job_name: 'dashboard-export',
      job_id: 'j',
      host: 'h',
      status: 'error' as const,
      at: new Date(0).toISOString(),
      duration_ms: 1,
      diagnostics: { error_code: 'dataset_failed', errors: Array.from({ length: 100 }, () => ({ dataset: 'latency', message: 'x'.repeat(200) })) },
    };
    const line = fitLine(entry);
    expect(Buffer.byteLength(line)).toBeLessThan(AUTOMATION_LINE_MAX_BYTES);
    const parsed = automationEntrySchema.parse(JSON.parse(line));
    expect(parsed.diagnostics).toMatchObject({ error_code: 'dataset_failed', truncated: true });
    expect(fitLine({ ...entry, diagnostics: { error_code: null } })).toBe(JSON.stringify({ ...entry, diagnostics: { error_code: null } }));
  });

  it('missing sequences: holes inside, at the start, and after the last entry up to the highest issued', () => {
    expect(missingSequences([1, 2, 3], 3)).toEqual([]);
    expect(missingSequences([1, 3, 4], 4)).toEqual([2]);
    expect(missingSequences([2, 3], 3)).toEqual([1]);
    expect(missingSequences([1, 2], 4)).toEqual([3, 4]);
    expect(missingSequences([], 0)).toEqual([]);
  });

  it('the stored index round-trips and is grouped by stream', () => {
    const index = {
      dataset: 'latency',
      dataset_sha256: 'a'.repeat(64),
      objects: {
        'raw/emu/ticker/BTC-USDT/dt=2026-01-01/000001-000000000000.jsonl': ['e1', '2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z'],
        'raw/emu/ticker/BTC-USDT/dt=2026-01-01/000001-000000000060.jsonl': ['e2', '2026-01-01T01:00:00.000Z'],
        'raw/emu/trades/ETH-USDT/dt=2026-01-02/000002-000000000000.jsonl': ['e3'],
      },
    };
    const packed = packIndex(index);
    expect(packed.buckets).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T01:00:00.000Z']);
    expect(packed.streams['raw/emu/ticker/BTC-USDT/']!['dt=2026-01-01/000001-000000000060.jsonl']).toEqual(['e2', 1]);
    expect(unpackIndex(JSON.parse(JSON.stringify(packed)))).toEqual(index);
  });
});
