// config/schema.ts
// The zod schema of config/app.yaml and the environment variables that override it.

import os from 'node:os';
import { z } from 'zod';

export const MODES = ['DEBUG', 'PROD', 'DIAG'] as const;
export type Mode = (typeof MODES)[number];

const seconds = z.number().positive().max(86_400);

export const streamSchema = z.strictObject({
  exchange: z.string().min(1),
  topic: z.enum(['ticker', 'trades', 'orderbook', 'ohlcv']),
  symbols: z.array(z.string().min(1)).min(1),
  /** Seconds between fetches of this stream (defaults to the tick). */
  every: seconds.optional(),
  /** Order book levels kept (orderbook only). */
  depth: z.number().int().positive().max(5000).optional(),
  /** Candle timeframe (ohlcv only), ccxt notation. */
  timeframe: z.string().optional(),
  /** `rest` polls every tick (default); `ws` streams over ccxt's WebSocket layer while this host holds the lease (docs/collector.md). */
  transport: z.enum(['rest', 'ws']).optional(),
  /** Pins every symbol of this stream to one shard (0 … collector.shards − 1); default: a stable hash (docs/leader.md). */
  shard: z.number().int().nonnegative().max(1023).optional(),
});
export type StreamConfig = z.infer<typeof streamSchema>;

/**
 * One strategy of the state-update duty (seed 003). Only `model` is fingerprinted: it defines
 * what a state.json means, so changing it makes every old state of the strategy unloadable.
 * `symbol`, `mode` and `guards` only pick defaults for a run and may change freely.
 */
export const strategySchema = z.strictObject({
  model: z.strictObject({
    /** Price units per pip: realised slippage (price − expected_price) is divided by it. */
    pipSize: z.number().positive(),
    /** Beta prior of the win rate per gate bucket, as pseudo-counts. */
    evPrior: z.strictObject({ wins: z.number().nonnegative(), losses: z.number().nonnegative() }),
    /** EWMA weight of the newest slippage sample, 0 < α ≤ 1. */
    slippageAlpha: z.number().gt(0).max(1),
  }),
  /** Default `--symbol` (ccxt notation or key form, e.g. BTC/USDT or BTC-USDT). */
  symbol: z.string().min(1).optional(),
  /** Default `--mode` (a label such as conservative). */
  mode: z.string().min(1).optional(),
  /** Defaults for `--max-delta`, `--var-cap`, `--liquidity-cap`; a guard with no value is off. */
  guards: z
    .strictObject({
      maxDelta: z.number().positive().optional(),
      varCap: z.number().optional(),
      liquidityCap: z.number().nonnegative().optional(),
    })
    .optional(),
});
export type StrategyConfig = z.infer<typeof strategySchema>;

/** One duration rule: the condition must last this long before the incident fires. */
const afterRule = z.strictObject({ enabled: z.boolean(), afterSeconds: z.number().nonnegative().max(7 * 86_400) });
/** One event rule: fires when the audit event is seen, resolves after `quietSeconds` without another one. */
const eventRule = z.strictObject({ enabled: z.boolean(), quietSeconds: z.number().positive().max(7 * 86_400) });
export const WEBHOOK_FORMATS = ['json', 'slack', 'discord'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** `alerts`: the webhooks, and the rules the alert-check duty evaluates (docs/alerts.md). */
export const alertsSchema = z.strictObject({
  webhookUrls: z.array(z.url()),
  /**
   * Body format by webhook host name (`hooks.slack.com: slack`); hosts not listed get `json`, except
   * hooks.slack.com (slack) and discord.com / discordapp.com (discord). Keyed by host: the URL path holds the token.
   */
  formats: z.record(z.string().min(1).regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'a host name, optionally :port'), z.enum(WEBHOOK_FORMATS)),
  /** Period of the alert-check duty. */
  everySeconds: seconds,
  /** An open incident is sent again this often while it lasts (0: never). */
  repeatSeconds: z.number().nonnegative().max(7 * 86_400),
  /** Per webhook attempt; one retry after retryDelayMs. */
  timeoutMs: z.number().int().positive().max(120_000),
  retryDelayMs: z.number().int().nonnegative().max(60_000),
  rules: z.strictObject({
    /** A collected stream without a successful fetch for longer than afterSeconds (stale or failing). Lease holder only. */
    streamStale: afterRule,
    /** `collector.gap.unfillable` / `collector.gap.suspected` seen (per stream). Lease holder only. */
    gaps: eventRule,
    /** The primary (NAS) down longer than afterSeconds. */
    primaryDown: afterRule,
    /** The local cache holds more than maxObjects objects or maxBytes bytes for the primary. */
    cacheBacklog: z.strictObject({ enabled: z.boolean(), maxObjects: z.number().int().positive(), maxBytes: z.number().int().positive() }),
    /** The last sync failed after its last attempt; resolves with the next successful sync. */
    syncFailed: z.strictObject({ enabled: z.boolean() }),
    /** The lease changed hands (`collector.leader.acquire` from another host) or an overlap was reported. */
    leaseChange: eventRule,
    /** Mode DIAG longer than afterSeconds. */
    diag: afterRule,
    /** Free bytes of the data directory under minBytes (absent: storage.diskFreeWarnBytes). */
    diskFree: z.strictObject({ enabled: z.boolean(), minBytes: z.number().int().nonnegative().optional() }),
    /** |this PC's clock − the primary's| over maxSeconds. */
    clockSkew: z.strictObject({ enabled: z.boolean(), maxSeconds: z.number().positive() }),
    /**
     * The primary (NAS) forecast to reach storage.capacityBytes within withinDays (the same linear
     * forecast as `runtime capacity`); needs storage.capacityBytes. Lease holder only; the bucket
     * is measured at most every measureEverySeconds (one listing of the whole bucket).
     */
    nasFull: z.strictObject({ enabled: z.boolean(), withinDays: z.number().positive(), measureEverySeconds: z.number().int().positive() }),
  }),
});
export type AlertsConfig = z.infer<typeof alertsSchema>;

/**
 * Preferred placement checks (docs/leader.md "Preferred placement"): preferredLeader is for the one
 * lease, preferredShards for shards; every shard named exists and has at most one preferred host.
 */
function preferredPlacementIssues(lease: { preferredLeader?: string; preferredShards?: Record<string, number[]> }, shards: number): Array<{ path: PropertyKey[]; message: string }> {
  const issues: Array<{ path: PropertyKey[]; message: string }> = [];
  if (lease.preferredLeader !== undefined && shards > 1) {
    issues.push({
      path: ['lease', 'preferredLeader'],
      message:
        `preferredLeader (${lease.preferredLeader}) is for the one lease, but collector.shards is ${shards}: ` +
        `name the shards that host should hold instead, lease.preferredShards or BTC_TS_PREFERRED_SHARDS="${lease.preferredLeader}=0,1"`,
    });
  }
  if (lease.preferredShards === undefined) return issues;
  if (shards <= 1) {
    issues.push({ path: ['lease', 'preferredShards'], message: 'preferredShards needs collector.shards > 1; with the one lease use lease.preferredLeader (BTC_TS_PREFERRED_LEADER)' });
    return issues;
  }
  const owner = new Map<number, string>();
  for (const [host, list] of Object.entries(lease.preferredShards)) {
    list.forEach((k, i) => {
      const path = ['lease', 'preferredShards', host, i];
      if (k >= shards) issues.push({ path, message: `shard ${k} does not exist: collector.shards is ${shards} (shards are 0 … ${shards - 1})` });
      else if (owner.has(k)) issues.push({ path, message: owner.get(k) === host ? `shard ${k} is listed twice for ${host}` : `shard ${k} is already preferred by ${owner.get(k)}: a shard has at most one preferred host` });
      else owner.set(k, host);
    });
  }
  return issues;
}

export const configSchema = z
  .strictObject({
    /** This PC's name (status, audit, lease holder). */
    host: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'),
    site: z.string(),
    actor: z.string(),
    /** Mode forced at start; when absent the runtime starts in DEBUG and goes PROD after preflight. */
    mode: z.enum(MODES).optional(),
    dataDir: z.string().min(1),
    logsDir: z.string().min(1),
    http: z.strictObject({
      host: z.string().min(1),
      port: z.number().int().min(0).max(65_535),
      bodyLimitBytes: z.number().int().positive(),
      /**
       * Host names (optionally `name:port`) this runtime answers to besides the loopback names and
       * its bind address: the names a reverse proxy or the LAN uses. Any other Host is refused (DNS rebinding).
       */
      allowedHosts: z.array(z.string().min(1).regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, 'a host name or IP, optionally :port')),
      /** Trust `X-Forwarded-Proto` from a TLS-terminating proxy in front (marks the session cookie Secure). */
      trustProxy: z.boolean(),
    }),
    storage: z.strictObject({
      /** Directory of the embedded FsStore primary (used when no S3 endpoint is set); default <dataDir>/nas. */
      fsPrimaryDir: z.string().optional(),
      /** Free bytes of the data directory's file system under which `/health`, the page and `whatif` warn. */
      diskFreeWarnBytes: z.number().int().nonnegative(),
      /** Size of the NAS volume (bytes): with it, `runtime capacity` and /metrics forecast the day it is full. */
      capacityBytes: z.number().int().positive().optional(),
      s3: z.strictObject({
        endpoint: z.url().optional(),
        bucket: z.string().min(3),
        region: z.string().min(1),
        requestTimeoutMs: z.number().int().positive(),
        /** MinIO console base URL (e.g. http://nas:9001) for the dashboard's raw/ and audit/ links. */
        consoleUrl: z.url({ protocol: /^https?$/ }).optional(),
      }),
      probe: z.strictObject({
        everySeconds: seconds,
        timeoutMs: z.number().int().positive(),
        /** Consecutive good probes before writes go back to the primary (hysteresis). */
        upAfterGoodProbes: z.number().int().positive(),
        /** Consecutive failed probes before writes go to the cache. */
        downAfterBadProbes: z.number().int().positive(),
      }),
    }),
    lease: z.strictObject({
      leaseSeconds: seconds,
      heartbeatSeconds: seconds,
      /** One lease (collector.shards 1) only: this host asks for the lease whenever it is live (docs/leader.md). */
      preferredLeader: z.string().optional(),
      /**
       * collector.shards > 1 only: host → the shards it should hold while it is live (each shard at
       * most one host). Env BTC_TS_PREFERRED_SHARDS="pc-a=0,1;pc-b=2,3". docs/leader.md "Preferred placement".
       */
      preferredShards: z
        .record(z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'a host name: letters, digits, . _ - only'), z.array(z.number().int().nonnegative()).min(1), {
          error: 'host → list of shard numbers, e.g. { pc-a: [0, 1] } in the file or BTC_TS_PREFERRED_SHARDS="pc-a=0,1;pc-b=2,3"',
        })
        .optional(),
      /**
       * A preferred host asks for its preferred shards back only after it has been live this long
       * without losing a lease (doubled after each time it lost them again soon after; default 3 × leaseSeconds).
       */
      preferredSettleSeconds: seconds.optional(),
    }),
    collector: z.strictObject({
      tickSeconds: seconds,
      /** Replaces every ccxt API host (the emulator, a proxy). */
      exchangeUrl: z.url().optional(),
      streams: z.array(streamSchema),
      /** A stream's fetch is abandoned after this long (its own timeout; others go on). */
      streamTimeoutMs: z.number().int().positive().max(600_000),
      /** Streams of one exchange fetched at the same time (ccxt's rate limiter still paces them). */
      perExchangeConcurrency: z.number().int().positive().max(64),
      /** Trades asked for per page when paging history (Binance allows up to 1000). */
      tradesPageLimit: z.number().int().positive().max(5000),
      /** Pages of trade history fetched per stream per tick when catching up. */
      maxPagesPerTick: z.number().int().positive().max(1000),
      /** Consecutive failed fetches of one stream that switch the mode to DIAG. */
      diagAfterFailures: z.number().int().positive().max(1000),
      /** Markets reloaded this often (s); a symbol that went missing reloads them at most once a minute too. Default 3600. */
      marketsReloadSeconds: seconds.optional(),
      /** A stream whose data has not moved for this long (s) is not ok with cause `stale`, per topic. Defaults in runtime/collector/freshness.ts. */
      staleAfterSeconds: z.strictObject({ ticker: seconds, trades: seconds, orderbook: seconds, ohlcv: seconds }).partial().optional(),
      /** A candle is stored once its period plus this (s) has passed in exchange time (revisions settle). Default 10. */
      candleSettleSeconds: z.number().min(0).max(3600).optional(),
      /** WebSocket streams (transport: ws): a socket silent this long (s) is dead and reconnected (default 10); reconnect backoff cap (s, default 30); a full order book snapshot record this often (s, default 60). */
      ws: z.strictObject({ silentSeconds: seconds.optional(), backoffMaxSeconds: seconds.optional(), bookSnapshotSeconds: seconds.optional() }).optional(),
      /** Shards of streams, one lease each (locks/collector.shard-<k>); 1 (default) = the one lease locks/collector.leader. docs/leader.md. */
      shards: z.number().int().positive().max(1024).optional(),
    }),
    alerts: alertsSchema,
    /** What, besides failing streams, turns PROD red (DIAG); each reason lifts by itself (docs/alerts.md). */
    diag: z.strictObject({
      /** The primary (NAS) down longer than this enters DIAG (0: never). */
      nasOutageSeconds: z.number().nonnegative().max(86_400),
      /** A sync that failed its last attempt enters DIAG until a later sync succeeds. */
      onSyncFailed: z.boolean(),
      /** A lease this host lost (taken by another host while it held it) keeps DIAG this long (0: never). */
      leaseLostSeconds: z.number().nonnegative().max(86_400),
    }),
    /** Strategies whose state the state-update duty keeps, by name (letters, digits, . _ -). */
    strategies: z.record(z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'), strategySchema).optional(),
    handoff: z.strictObject({
      /** Repository the bundle describes; default: this installation's own directory. */
      repoDir: z.string().optional(),
      /** The handover file inside repoDir (done / remaining / next tasks). */
      handoverFile: z.string().min(1),
      /** Globs left out of the bundle on top of the fixed exclusions (.env*, keys, node_modules, data). */
      exclude: z.array(z.string()),
      /** Source files larger than this are listed but not copied into the bundle. */
      maxFileBytes: z.number().int().positive(),
      sampleLines: z.number().int().min(0).max(1000),
      logLines: z.number().int().min(0).max(10_000),
    }),
    preflight: z.strictObject({
      /** Wall clock vs the primary's clock: above this the clock check fails (leases never depend on it; partitions do). */
      maxClockSkewSeconds: z.number().positive(),
      /** Above this the clock check passes with a warning. */
      warnClockSkewSeconds: z.number().positive(),
    }),
    /** Daily compaction of raw segments into Parquet (docs/data.md). */
    compaction: z.strictObject({
      /** Period of the scheduled `compact` duty on the lease holder (default daily). */
      everySeconds: seconds,
      /** A UTC day is compacted once it ended this long ago (late ticks and the last ship land first). */
      graceMinutes: z.number().int().nonnegative().max(24 * 60),
    }),
    retention: z.strictObject({
      /** Raw segments of a day go this many days after the day ended, and only once its Parquet object is verified. */
      rawDays: z.number().int().positive().max(3650),
      /** Parquet objects older than this many days are deleted (absent: kept for ever). */
      parquetDays: z.number().int().positive().max(36500).optional(),
    }),
    dashboard: z.strictObject({
      /** Period of the scheduled dashboard export (seed: every 6 h). */
      everySeconds: seconds,
      /** History under dashboard/history/<job_id>/ older than this is pruned (every removal logged). */
      historyWeeks: z.number().int().positive().max(520),
      /** `sh -c` command run after each successful scheduled export; may hold credentials, never logged. */
      uploadCommand: z.string().min(1).optional(),
      /** The upload command is killed after this long (and counts as upload_failed). */
      uploadTimeoutSeconds: seconds,
    }),
    /** The daily data-quality check (docs/quality.md). */
    quality: z.strictObject({
      /** A stream whose coverage_ratio of a day is below this (0..1) fails the day: exit 1, data_quality_failure webhook. */
      coverageThreshold: z.number().min(0).max(1),
    }),
  })
  .superRefine((c, ctx) => {
    if (c.retention.parquetDays !== undefined && c.retention.parquetDays <= c.retention.rawDays) {
      ctx.addIssue({ code: 'custom', path: ['retention', 'parquetDays'], message: `parquetDays (${c.retention.parquetDays}) must be more than retention.rawDays (${c.retention.rawDays}): a day's raw segments outlive its Parquet object otherwise` });
    }
    const shards = c.collector.shards ?? 1;
    c.collector.streams.forEach((s, i) => {
      // A ws stream follows the one collector lease (lease.onLeaseChange); per-shard leases do not start it yet.
      if (s.transport === 'ws' && shards > 1) {
        ctx.addIssue({ code: 'custom', path: ['collector', 'streams', i, 'transport'], message: `transport ws needs collector.shards = 1 (it is ${shards}): ws streams follow the one collector lease, not a shard's` });
      }
      if (s.shard !== undefined && s.shard >= shards) {
        ctx.addIssue({ code: 'custom', path: ['collector', 'streams', i, 'shard'], message: `shard ${s.shard} does not exist: collector.shards is ${shards} (shards are 0 … ${shards - 1})` });
      }
    });
    preferredPlacementIssues(c.lease, shards).forEach((issue) => ctx.addIssue({ code: 'custom', ...issue }));
    if (c.lease.leaseSeconds <= 2 * c.lease.heartbeatSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['lease', 'leaseSeconds'],
        message:
          `leaseSeconds (${c.lease.leaseSeconds}) must be more than 2 × lease.heartbeatSeconds (${c.lease.heartbeatSeconds}); ` +
          'raise BTC_TS_LEASE_SECONDS or lower BTC_TS_HEARTBEAT_SECONDS, or one late heartbeat hands the lease to the other PC',
      });
    }
  });

export type AppConfig = z.infer<typeof configSchema>;

/** Where the defaults of `host` and `actor` come from: this PC (os.hostname, USER) unless a runtime without one (a worker) says. */
export interface MachineDefaults {
  hostname(): string;
  user: string | undefined;
}

export function defaultConfig(machine: MachineDefaults = { hostname: () => os.hostname(), user: process.env.USER }): AppConfig {
  return {
    host: machine.hostname().replace(/[^A-Za-z0-9._-]/g, '-') || 'localhost',
    site: 'default',
    actor: machine.user ?? 'operator',
    dataDir: 'data',
    logsDir: 'logs',
    http: { host: '127.0.0.1', port: 8787, bodyLimitBytes: 1 << 20, allowedHosts: [], trustProxy: false },
    storage: {
      diskFreeWarnBytes: 1 << 30,
      s3: { bucket: 'btc-ts', region: 'us-east-1', requestTimeoutMs: 10_000 },
      probe: { everySeconds: 5, timeoutMs: 2_000, upAfterGoodProbes: 3, downAfterBadProbes: 1 },
    },
    // Failover after kill -9 within lease + 2 × heartbeat (≤ 12 s); chosen with `npm run bench -- failover --shipped` and the slow-NAS soak (docs/leader.md).
    lease: { leaseSeconds: 10, heartbeatSeconds: 1 },
    collector: { tickSeconds: 5, streams: [], streamTimeoutMs: 4_000, perExchangeConcurrency: 4, tradesPageLimit: 1000, maxPagesPerTick: 20, diagAfterFailures: 3 },
    alerts: {
      webhookUrls: [],
      formats: {},
      everySeconds: 30,
      repeatSeconds: 3600,
      timeoutMs: 5_000,
      retryDelayMs: 1_000,
      rules: {
        streamStale: { enabled: true, afterSeconds: 120 },
        gaps: { enabled: true, quietSeconds: 900 },
        primaryDown: { enabled: true, afterSeconds: 120 },
        cacheBacklog: { enabled: true, maxObjects: 5_000, maxBytes: 1 << 30 },
        syncFailed: { enabled: true },
        leaseChange: { enabled: true, quietSeconds: 900 },
        diag: { enabled: true, afterSeconds: 120 },
        diskFree: { enabled: true },
        clockSkew: { enabled: true, maxSeconds: 30 },
        nasFull: { enabled: true, withinDays: 30, measureEverySeconds: 6 * 3600 },
      },
    },
    diag: { nasOutageSeconds: 300, onSyncFailed: true, leaseLostSeconds: 300 },
    handoff: {
      handoverFile: 'docs/handover.md',
      // Seed ch. 27: the development rules and design documents live with the project, not in bundles.
      exclude: ['docs/rules/**', 'docs/design/**', 'SPEC.md', 'CONTRACT.md', 'STYLE.md', 'PREAMBLE.md'],
      maxFileBytes: 512 * 1024,
      sampleLines: 5,
      logLines: 50,
    },
    preflight: { maxClockSkewSeconds: 900, warnClockSkewSeconds: 5 },
    compaction: { everySeconds: 24 * 3600, graceMinutes: 30 },
    retention: { rawDays: 7 },
    dashboard: { everySeconds: 6 * 3600, historyWeeks: 8, uploadTimeoutSeconds: 600 },
    quality: { coverageThreshold: 0.95 },
  };
}

type EnvParser = (raw: string) => unknown;
const asString: EnvParser = (raw) => raw;
const asNumber: EnvParser = (raw) => (raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw));
/**
 * `BTC_TS_PREFERRED_SHARDS`: `host=k,k;host=k` (spaces allowed) → `{ host: [k, k] }`. Anything else
 * is passed on as given, so the schema names lease.preferredShards with the expected form.
 */
const asPreferredShards: EnvParser = (raw) => {
  const out: Record<string, unknown[]> = {};
  for (const part of raw.split(';').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)\s*=\s*(.*)$/.exec(part);
    if (!m) return raw;
    out[m[1]!] = [...(out[m[1]!] ?? []), ...m[2]!.split(',').map((s) => s.trim()).filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s))];
  }
  return out;
};
const asList: EnvParser = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Environment variable → config path. Environment beats the config file beats the defaults. */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: string[]; parse: EnvParser }> = [
  { env: 'BTC_TS_HOST', path: ['host'], parse: asString },
  { env: 'BTC_TS_SITE', path: ['site'], parse: asString },
  { env: 'BTC_TS_ACTOR', path: ['actor'], parse: asString },
  { env: 'BTC_TS_MODE', path: ['mode'], parse: (raw) => raw.toUpperCase() },
  { env: 'BTC_TS_DATA_DIR', path: ['dataDir'], parse: asString },
  { env: 'BTC_TS_LOGS_DIR', path: ['logsDir'], parse: asString },
  { env: 'BTC_TS_PORT', path: ['http', 'port'], parse: asNumber },
  { env: 'BTC_TS_ALLOWED_HOSTS', path: ['http', 'allowedHosts'], parse: asList },
  { env: 'BTC_TS_FS_PRIMARY_DIR', path: ['storage', 'fsPrimaryDir'], parse: asString },
  { env: 'BTC_TS_DISK_FREE_WARN_BYTES', path: ['storage', 'diskFreeWarnBytes'], parse: asNumber },
  { env: 'BTC_TS_S3_ENDPOINT', path: ['storage', 's3', 'endpoint'], parse: asString },
  { env: 'BTC_TS_S3_BUCKET', path: ['storage', 's3', 'bucket'], parse: asString },
  { env: 'BTC_TS_S3_REGION', path: ['storage', 's3', 'region'], parse: asString },
  { env: 'BTC_TS_S3_CONSOLE_URL', path: ['storage', 's3', 'consoleUrl'], parse: asString },
  { env: 'BTC_TS_PROBE_SECONDS', path: ['storage', 'probe', 'everySeconds'], parse: asNumber },
  { env: 'BTC_TS_LEASE_SECONDS', path: ['lease', 'leaseSeconds'], parse: asNumber },
  { env: 'BTC_TS_HEARTBEAT_SECONDS', path: ['lease', 'heartbeatSeconds'], parse: asNumber },
  { env: 'BTC_TS_PREFERRED_LEADER', path: ['lease', 'preferredLeader'], parse: asString },
  { env: 'BTC_TS_PREFERRED_SHARDS', path: ['lease', 'preferredShards'], parse: asPreferredShards },
  { env: 'BTC_TS_PREFERRED_SETTLE_SECONDS', path: ['lease', 'preferredSettleSeconds'], parse: asNumber },
  { env: 'BTC_TS_TICK_SECONDS', path: ['collector', 'tickSeconds'], parse: asNumber },
  { env: 'BTC_TS_SHARDS', path: ['collector', 'shards'], parse: asNumber },
  { env: 'BTC_TS_EXCHANGE_URL', path: ['collector', 'exchangeUrl'], parse: asString },
  { env: 'BTC_TS_DASHBOARD_EVERY_SECONDS', path: ['dashboard', 'everySeconds'], parse: asNumber },
  { env: 'BTC_TS_DASHBOARD_UPLOAD_CMD', path: ['dashboard', 'uploadCommand'], parse: asString },
  { env: 'SIGNAL_WEBHOOK_URLS', path: ['alerts', 'webhookUrls'], parse: asList },
  { env: 'BTC_TS_ALERT_EVERY_SECONDS', path: ['alerts', 'everySeconds'], parse: asNumber },
  { env: 'BTC_TS_ALERT_REPEAT_SECONDS', path: ['alerts', 'repeatSeconds'], parse: asNumber },
  { env: 'BTC_TS_REPO_DIR', path: ['handoff', 'repoDir'], parse: asString },
  { env: 'BTC_TS_QUALITY_THRESHOLD', path: ['quality', 'coverageThreshold'], parse: asNumber },
  { env: 'BTC_TS_MAX_CLOCK_SKEW_SECONDS', path: ['preflight', 'maxClockSkewSeconds'], parse: asNumber },
];

/** Secrets come only from the environment; they never enter the config object. */
export const SECRET_ENV = ['BTC_TS_S3_ACCESS_KEY', 'BTC_TS_S3_SECRET_KEY', 'BTC_TS_S3_SESSION_TOKEN', 'BTC_TS_API_TOKEN'] as const;
export type SecretName = (typeof SECRET_ENV)[number];
export type Secrets = Partial<Record<SecretName, string>>;
/** A shorter BTC_TS_API_TOKEN is refused at load: it could be guessed over the HTTP port. */
export const MIN_API_TOKEN_LENGTH = 32;
