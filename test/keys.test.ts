// test/keys.test.ts
// The bucket layout in runtime/keys.ts: CONTRACT's key shapes, build → parse round-trips, and no key literal outside keys.ts.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as keys from '../runtime/keys.ts';
import {
  ARCHIVE_KEY_PATTERN,
  archiveKey,
  archiveManifestKey,
  archivePrefix,
  AUTOMATION_ENTRY_PATTERN,
  AUTOMATION_SEQUENCE_KEY,
  auditDayPrefix,
  auditSegmentKey,
  automationEntryKey,
  clockProbeKey,
  conditionalWritesKey,
  conflictKey,
  cursorKey,
  datasetKey,
  datePartitionStart,
  HANDOFF_KEY_PATTERN,
  handoffFileName,
  handoffKey,
  HEARTBEAT_KEY,
  historyJobOf,
  historyKey,
  incidentArtifactKey,
  incidentDocKey,
  incidentKey,
  incidentPrefix,
  indexKey,
  latestKey,
  latestStreamKey,
  LEASE_KEY,
  MANIFEST_KEY,
  manifestKey,
  memberKey,
  NOT_SYNCED_PREFIXES,
  OVERRIDE_KEY,
  parquetKey,
  parseAuditSegmentKey,
  parseIncidentDocKey,
  parseManifestKey,
  parseMemberKey,
  parseParquetKey,
  parseRawSegmentKey,
  parseStatusKey,
  QUALITY_SUMMARY_PATTERN,
  qualityInventoryKey,
  qualitySummaryKey,
  rawDayPrefix,
  rawSegmentKey,
  rawStreamDayPrefix,
  rawStreamPrefix,
  runsPrefix,
  shardLeaseKey,
  splitRawStreamKey,
  STATE_KEY_PATTERN,
  stateKey,
  statusKey,
  storageProbeKey,
  streamDayPrefix,
  streamPrefix,
  symbolKey,
} from '../runtime/keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const T0 = Date.UTC(2026, 0, 1, 9, 30, 0, 123); // 2026-01-01T09:30:00.123Z

/**
 * CONTRACT's "Objects" table (docs CONTRACT), copied verbatim, as a regular expression: `<name:N>` is
 * N digits, `<YYYY-MM-DD>` a date, `<YYYYMMDD>` / `<HHMM>` digits, any other `<name>` one key
 * segment, `…` anything.
 */
function contractPattern(template: string): RegExp {
  let re = '';
  for (const part of template.split(/(<[^>]+>|…)/)) {
    if (part === '…') re += '.+';
    else if (part === '<YYYY-MM-DD>') re += '\\d{4}-\\d{2}-\\d{2}';
    else if (part === '<YYYYMMDD>') re += '\\d{8}';
    else if (part === '<HHMM>') re += '\\d{4}';
    else if (/^<[^>:]+:(\d+)>$/.test(part)) re += `\\d{${/:(\d+)>$/.exec(part)![1]}}`;
    else if (/^<[^>]+>$/.test(part)) re += '[^/]+';
    else re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

describe('CONTRACT key shapes', () => {
  const btc = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
  const state = { strategy: 'mm', symbol: 'BTC-USDT', mode: 'live' };
  // [CONTRACT template, a key the runtime builds for it, the exact key expected]
  const cases: Array<[string, string, string]> = [
    ['locks/collector.leader', LEASE_KEY, 'locks/collector.leader'],
    ['collector/status/<host>.json', statusKey('pc1'), 'collector/status/pc1.json'],
    [
      'raw/<exchange>/<topic>/<SYMBOL>/dt=<YYYY-MM-DD>/<epoch:6>-<firstSeq:12>.jsonl',
      rawSegmentKey(btc, 3, 1, T0),
      'raw/binance/trades/BTC-USDT/dt=2026-01-01/000003-000000000001.jsonl',
    ],
    ['quality/dt=<YYYY-MM-DD>/summary.json', qualitySummaryKey('2026-01-01'), 'quality/dt=2026-01-01/summary.json'],
    ['quality/dt=<YYYY-MM-DD>/gap_inventory.csv', qualityInventoryKey('2026-01-01'), 'quality/dt=2026-01-01/gap_inventory.csv'],
    [
      'parquet/…/dt=<YYYY-MM-DD>/….parquet',
      parquetKey({ exchange: 'binance', topic: 'trades', symbol: 'BTC-USDT' }, '2026-01-01'),
      'parquet/trades/exchange=binance/symbol=BTC-USDT/dt=2026-01-01/binance-BTC-USDT-2026-01-01.parquet',
    ],
    ['incidents/<id>/incident.json', incidentDocKey('inc-1'), 'incidents/inc-1/incident.json'],
    ['incidents/<id>/replay_params.json', incidentKey('inc-1', 'replay_params.json'), 'incidents/inc-1/replay_params.json'],
    ['incidents/<id>/replay_notes.md', incidentKey('inc-1', 'replay_notes.md'), 'incidents/inc-1/replay_notes.md'],
    ['incidents/<id>/artifacts/…', incidentArtifactKey('inc-1', 'binance-trades-BTC-USDT.parquet'), 'incidents/inc-1/artifacts/binance-trades-BTC-USDT.parquet'],
    ['latest/<exchange>/<topic>/<SYMBOL>.csv', latestKey({ exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT' }), 'latest/binance/ticker/BTC-USDT.csv'],
    ['audit/dt=<YYYY-MM-DD>/<host>-<firstSeq:12>.jsonl', auditSegmentKey('pc1', T0, 1), 'audit/dt=2026-01-01/pc1-000000000001.jsonl'],
    ['handoff/Handoff_<YYYYMMDD>_<HHMM>.zip', handoffKey('Handoff_20260101_0930.zip'), 'handoff/Handoff_20260101_0930.zip'],
    ['state/<strategy>/<symbol>/<mode>/state.json', stateKey(state), 'state/mm/BTC-USDT/live/state.json'],
    ['state_archive/<strategy>/<symbol>/<mode>/<ts>_diff.json', archiveKey(state, T0), 'state_archive/mm/BTC-USDT/live/20260101T093000123Z_diff.json'],
    ['state_archive/auto_adjust_override.json', OVERRIDE_KEY, 'state_archive/auto_adjust_override.json'],
    ['dashboard/manifest.json', MANIFEST_KEY, 'dashboard/manifest.json'],
    ['dashboard/<dataset>.json', datasetKey('latency'), 'dashboard/latency.json'],
    ['dashboard/heartbeat.json', HEARTBEAT_KEY, 'dashboard/heartbeat.json'],
    ['dashboard/history/<job_id>/…', historyKey('20260101T050000Z-pc1', 'latency.json'), 'dashboard/history/20260101T050000Z-pc1/latency.json'],
  ];
  for (const [template, built, exact] of cases) {
    it(template, () => {
      expect(built).toBe(exact);
      expect(built).toMatch(contractPattern(template));
    });
  }

  it('SYMBOL is the ccxt symbol with / → - and : → _', () => {
    expect(symbolKey('BTC/USDT:USDT')).toBe('BTC-USDT_USDT');
    expect(rawSegmentKey({ exchange: 'okx', topic: 'ticker', symbol: 'BTC/USDT:USDT' }, 1, 0, T0)).toBe('raw/okx/ticker/BTC-USDT_USDT/dt=2026-01-01/000001-000000000000.jsonl');
  });

  it('padding is a minimum: a seven-digit epoch and a 13-digit seq still build and parse', () => {
    const key = rawSegmentKey({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' }, 1_234_567, 1_234_567_890_123, T0);
    expect(key).toBe('raw/binance/trades/BTC-USDT/dt=2026-01-01/1234567-1234567890123.jsonl');
    expect(parseRawSegmentKey(key)).toMatchObject({ epoch: 1_234_567, firstSeq: 1_234_567_890_123 });
  });
});

describe('build → parse round-trips', () => {
  it('raw segment', () => {
    const key = rawSegmentKey({ exchange: 'kraken', topic: 'orderbook', symbol: 'ETH/USD' }, 42, 7_000, Date.UTC(2026, 11, 31, 23, 59, 59, 999));
    expect(parseRawSegmentKey(key)).toEqual({ key, stream: 'kraken/orderbook/ETH-USD', exchange: 'kraken', topic: 'orderbook', symbol: 'ETH-USD', date: '2026-12-31', epoch: 42, firstSeq: 7_000 });
    expect(splitRawStreamKey(key)).toEqual(['raw/kraken/orderbook/ETH-USD/', 'dt=2026-12-31/000042-000000007000.jsonl']);
    expect(key.startsWith(streamPrefix({ exchange: 'kraken', topic: 'orderbook', symbol: 'ETH/USD' }))).toBe(true);
    expect(key.startsWith(rawStreamDayPrefix('kraken/orderbook/ETH-USD', '2026-12-31'))).toBe(true);
    expect(key.startsWith(streamDayPrefix({ exchange: 'kraken', topic: 'orderbook', symbol: 'ETH/USD' }, '2026-12-31'))).toBe(true);
    expect(key.startsWith(rawDayPrefix({ exchange: 'kraken', topic: 'orderbook', symbol: 'ETH-USD' }, '2026-12-31'))).toBe(true);
    expect(rawStreamPrefix('kraken/orderbook/ETH-USD')).toBe('raw/kraken/orderbook/ETH-USD/');
    expect(parseRawSegmentKey(`${key}.tmp`)).toBeNull();
    expect(parseRawSegmentKey('raw/kraken/orderbook/ETH-USD/dt=2026-12-31/42-7000.jsonl')).toBeNull();
    expect(splitRawStreamKey('audit/dt=2026-01-01/pc1-000000000001.jsonl')).toBeNull();
  });

  it('audit segment', () => {
    const key = auditSegmentKey('pc-2.lan', T0, 123);
    expect(key.startsWith(auditDayPrefix('2026-01-01'))).toBe(true);
    expect(parseAuditSegmentKey(key)).toEqual({ date: '2026-01-01', host: 'pc-2.lan', firstSeq: 123 });
    expect(parseAuditSegmentKey(rawSegmentKey({ exchange: 'b', topic: 't', symbol: 'S' }, 1, 1, T0))).toBeNull();
  });

  it('status and membership', () => {
    expect(parseStatusKey(statusKey('pc1'))).toBe('pc1');
    expect(parseStatusKey('collector/status/')).toBeNull();
    expect(parseStatusKey('collector/cursors/binance/trades/BTC-USDT.json')).toBeNull();
    expect(memberKey('pc1')).toBe('locks/collector.members/pc1.json');
    expect(parseMemberKey(memberKey('pc1'))).toBe('pc1');
    expect(parseMemberKey(statusKey('pc1'))).toBeNull();
    expect(shardLeaseKey(2)).toBe('locks/collector.shard-2');
  });

  it('Parquet and manifest', () => {
    const s = { exchange: 'okx', topic: 'ohlcv' as const, symbol: 'BTC-USDT_USDT' };
    expect(parseParquetKey(parquetKey(s, '2026-02-28'))).toEqual({ stream: 'okx/ohlcv/BTC-USDT_USDT', topic: 'ohlcv', exchange: 'okx', symbol: 'BTC-USDT_USDT', date: '2026-02-28' });
    expect(manifestKey(s, '2026-02-28')).toBe('parquet-manifests/ohlcv/okx/BTC-USDT_USDT/2026-02-28.json');
    expect(parseManifestKey(manifestKey(s, '2026-02-28'))).toEqual({ stream: s, date: '2026-02-28' });
    expect(parseManifestKey('parquet-manifests/bogus/okx/BTC-USDT/2026-02-28.json')).toBeNull();
    expect(parseParquetKey(manifestKey(s, '2026-02-28'))).toBeNull();
  });

  it('state, archive, runs, quality, dashboard, handoff', () => {
    const t = { strategy: 'mm', symbol: 'ETH-USDT', mode: 'paper' };
    expect(STATE_KEY_PATTERN.exec(stateKey(t))?.slice(1)).toEqual(['mm', 'ETH-USDT', 'paper']);
    expect(ARCHIVE_KEY_PATTERN.exec(archiveKey(t, T0))?.slice(1)).toEqual(['mm', 'ETH-USDT', 'paper', '20260101T093000123Z']);
    expect(archiveKey(t, T0).startsWith(archivePrefix(t))).toBe(true);
    expect(ARCHIVE_KEY_PATTERN.test(OVERRIDE_KEY)).toBe(false);
    expect(runsPrefix(t)).toBe('runs/mm/ETH-USDT/paper/');
    expect(QUALITY_SUMMARY_PATTERN.exec(qualitySummaryKey('2026-03-01'))?.[1]).toBe('2026-03-01');
    expect(QUALITY_SUMMARY_PATTERN.test(qualityInventoryKey('2026-03-01'))).toBe(false);
    expect(AUTOMATION_ENTRY_PATTERN.exec(automationEntryKey(7))?.[1]).toBe('000000000007');
    expect(AUTOMATION_ENTRY_PATTERN.test(AUTOMATION_SEQUENCE_KEY)).toBe(false);
    expect(historyJobOf(historyKey('job-1', 'coverage.json'))).toBe('job-1');
    expect(archiveManifestKey('2026-01-01', 'job-1')).toBe('dashboard/archive_manifest/dt=2026-01-01/job-1.jsonl');
    expect(indexKey('latency')).toBe('dashboard/index/latency.json');
    expect(parseIncidentDocKey(incidentDocKey('inc.2026-01-01'))).toBe('inc.2026-01-01');
    expect(parseIncidentDocKey(incidentKey('inc-1', 'replay_notes.md'))).toBeNull();
    expect(incidentDocKey('inc-1').startsWith(incidentPrefix('inc-1'))).toBe(true);
    expect(handoffFileName(handoffKey('Handoff_20260101_0930_2.zip'))).toBe('Handoff_20260101_0930_2.zip');
    expect(HANDOFF_KEY_PATTERN.test(handoffKey('Handoff_20260101_0930.zip'))).toBe(true);
    expect(HANDOFF_KEY_PATTERN.test('Handoff_20260101_0930.zip')).toBe(true);
    expect(HANDOFF_KEY_PATTERN.test('handoff/../x.zip')).toBe(false);
  });

  it('cursors, latest, probes, conflicts, date partitions', () => {
    expect(cursorKey({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' })).toBe('collector/cursors/binance/trades/BTC-USDT.json');
    expect(latestStreamKey('binance/ticker/BTC-USDT')).toBe(latestKey({ exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT' }));
    expect([storageProbeKey('pc1'), clockProbeKey('pc1'), conditionalWritesKey('pc1')]).toEqual(['health/probe-pc1', 'health/clock-pc1', 'health/cas-pc1']);
    const seg = rawSegmentKey({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' }, 1, 1, T0);
    expect(conflictKey(seg)).toBe(`conflicts/${seg}`);
    // Probes, leases and conflicts are never synced; raw and audit segments are.
    for (const k of [storageProbeKey('pc1'), LEASE_KEY, memberKey('pc1'), conflictKey(seg)]) expect(NOT_SYNCED_PREFIXES.some((p) => k.startsWith(p))).toBe(true);
    for (const k of [seg, auditSegmentKey('pc1', T0, 1), statusKey('pc1')]) expect(NOT_SYNCED_PREFIXES.some((p) => k.startsWith(p))).toBe(false);
    // The partition start sorts before every key of its day and after every key of the day before.
    const prefix = streamPrefix({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' });
    expect(datePartitionStart(prefix)).toBe('raw/binance/trades/BTC-USDT/dt=');
    expect(datePartitionStart(prefix, '2026-01-01') < seg).toBe(true);
    expect(rawSegmentKey({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' }, 999_999, 999, T0 - 86_400_000) < datePartitionStart(prefix, '2026-01-01')).toBe(true);
  });
});

/**
 * Lines outside runtime/keys.ts that may hold a bucket-prefix literal. Each is text, not a key:
 * keep this list short and say why.
 */
const ALLOW: Array<{ file: string; text: string; why: string }> = [
  { file: 'runtime/dashboard-export/build.ts', text: "'raw/ keys outside the layout ignored'", why: 'a log message naming the prefix' },
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.tsx?$/.test(entry.name)) out.push(rel);
  }
  return out;
}

describe('runtime/keys.ts owns the layout', () => {
  // Every top-level folder the layout uses, taken from keys.ts itself so a new prefix is scanned too.
  const tops = new Set<string>();
  for (const value of Object.values(keys)) {
    if (typeof value === 'string' && value.includes('/')) tops.add(value.slice(0, value.indexOf('/')));
    if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') tops.add(v.slice(0, v.indexOf('/')));
  }

  /** A string or template literal starting with a prefix ('raw/, `raw/, "raw/) or a regex anchored on one (/^raw\/). */
  const literalPattern = () => {
    const alt = [...tops].map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
    return new RegExp(`(['"\`](?:${alt})/)|(/\\^(?:${alt})\\\\/)`);
  };

  it('knows every top-level folder of CONTRACT', () => {
    for (const top of ['raw', 'audit', 'collector', 'locks', 'health', 'quality', 'parquet', 'parquet-manifests', 'incidents', 'latest', 'handoff', 'state', 'state_archive', 'dashboard']) {
      expect(tops, top).toContain(top);
    }
  });

  it('no file under runtime/ or functions/ but keys.ts writes a bucket-prefix literal', () => {
    const literal = literalPattern();
    const hits: string[] = [];
    const allowed = new Set<string>();
    const files = [...sourceFiles('runtime'), ...sourceFiles('functions')].filter((f) => f !== 'runtime/keys.ts');
    expect(files.length).toBeGreaterThan(50);
    for (const file of files) {
      readFileSync(path.join(ROOT, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.trim();
          if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return; // comments and doc comments
          if (!literal.test(line)) return;
          const allow = ALLOW.find((a) => a.file === file && line.includes(a.text));
          if (allow) allowed.add(`${allow.file}: ${allow.text}`);
          else hits.push(`${file}:${i + 1}: ${code}`);
        });
    }
    expect(hits).toEqual([]);
    // A stale allow-list entry hides nothing: every entry still matches a line.
    expect([...allowed].sort()).toEqual(ALLOW.map((a) => `${a.file}: ${a.text}`).sort());
  });

  it('the scan finds a literal when one is there', () => {
    const literal = literalPattern();
    expect(literal.test("listAll(store, 'raw/')")).toBe(true);
    expect(literal.test('const k = `collector/status/${host}.json`;')).toBe(true);
    expect(literal.test(String.raw`const re = /^state_archive\/([^/]+)/;`)).toBe(true);
    expect(literal.test("import { x } from '../state/model.ts';")).toBe(false);
  });
});
