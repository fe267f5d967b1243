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
});
export type StreamConfig = z.infer<typeof streamSchema>;

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
    }),
    storage: z.strictObject({
      /** Directory of the embedded FsStore primary (used when no S3 endpoint is set); default <dataDir>/nas. */
      fsPrimaryDir: z.string().optional(),
      s3: z.strictObject({
        endpoint: z.url().optional(),
        bucket: z.string().min(3),
        region: z.string().min(1),
        requestTimeoutMs: z.number().int().positive(),
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
      preferredLeader: z.string().optional(),
    }),
    collector: z.strictObject({
      tickSeconds: seconds,
      /** Replaces every ccxt API host (the emulator, a proxy). */
      exchangeUrl: z.url().optional(),
      streams: z.array(streamSchema),
    }),
    alerts: z.strictObject({
      webhookUrls: z.array(z.url()),
    }),
  })
  .superRefine((c, ctx) => {
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

export function defaultConfig(): AppConfig {
  return {
    host: os.hostname().replace(/[^A-Za-z0-9._-]/g, '-') || 'localhost',
    site: 'default',
    actor: process.env.USER ?? 'operator',
    dataDir: 'data',
    logsDir: 'logs',
    http: { host: '127.0.0.1', port: 8787, bodyLimitBytes: 1 << 20 },
    storage: {
      s3: { bucket: 'btc-ts', region: 'us-east-1', requestTimeoutMs: 10_000 },
      probe: { everySeconds: 5, timeoutMs: 2_000, upAfterGoodProbes: 3, downAfterBadProbes: 1 },
    },
    lease: { leaseSeconds: 30, heartbeatSeconds: 5 },
    collector: { tickSeconds: 5, streams: [] },
    alerts: { webhookUrls: [] },
  };
}

type EnvParser = (raw: string) => unknown;
const asString: EnvParser = (raw) => raw;
const asNumber: EnvParser = (raw) => (raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw));
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
  { env: 'BTC_TS_FS_PRIMARY_DIR', path: ['storage', 'fsPrimaryDir'], parse: asString },
  { env: 'BTC_TS_S3_ENDPOINT', path: ['storage', 's3', 'endpoint'], parse: asString },
  { env: 'BTC_TS_S3_BUCKET', path: ['storage', 's3', 'bucket'], parse: asString },
  { env: 'BTC_TS_S3_REGION', path: ['storage', 's3', 'region'], parse: asString },
  { env: 'BTC_TS_PROBE_SECONDS', path: ['storage', 'probe', 'everySeconds'], parse: asNumber },
  { env: 'BTC_TS_LEASE_SECONDS', path: ['lease', 'leaseSeconds'], parse: asNumber },
  { env: 'BTC_TS_HEARTBEAT_SECONDS', path: ['lease', 'heartbeatSeconds'], parse: asNumber },
  { env: 'BTC_TS_PREFERRED_LEADER', path: ['lease', 'preferredLeader'], parse: asString },
  { env: 'BTC_TS_TICK_SECONDS', path: ['collector', 'tickSeconds'], parse: asNumber },
  { env: 'BTC_TS_EXCHANGE_URL', path: ['collector', 'exchangeUrl'], parse: asString },
  { env: 'SIGNAL_WEBHOOK_URLS', path: ['alerts', 'webhookUrls'], parse: asList },
];

/** Secrets come only from the environment; they never enter the config object. */
export const SECRET_ENV = ['BTC_TS_S3_ACCESS_KEY', 'BTC_TS_S3_SECRET_KEY', 'BTC_TS_API_TOKEN'] as const;
export type SecretName = (typeof SECRET_ENV)[number];
export type Secrets = Partial<Record<SecretName, string>>;
