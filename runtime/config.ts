// runtime/config.ts
// Loads the configuration: defaults ← config/app.yaml ← environment, validated by zod; secrets kept apart.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { configSchema, defaultConfig, ENV_OVERRIDES, MIN_API_TOKEN_LENGTH, SECRET_ENV, type AppConfig, type MachineDefaults, type Secrets } from '../config/schema.ts';
import { configError, isPlainObject, readConfigFile } from './config-source.ts';
import { BtcError } from './errors.ts';

export const DEFAULT_CONFIG_PATH = 'config/app.yaml';

export interface LoadedConfig {
  config: AppConfig;
  secrets: Secrets;
  /** The file actually read, or null when none exists. */
  file: string | null;
  /** Each layer as given, for `runtime config diff`. */
  layers: { defaults: AppConfig; file: Record<string, unknown>; env: Record<string, unknown> };
}

export interface LoadOptions {
  /** Config file path (`--config`); else BTC_TS_CONFIG; else config/app.yaml when present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides from CLI flags (`--host`, `--port`), applied last. */
  overrides?: Record<string, unknown>;
  /**
   * The config file already parsed (a worker has no disk: its bundle carries config/app.yaml as
   * data); `name` is what errors and `file` report. With it, nothing is read from disk.
   */
  fileData?: { name: string; data: Record<string, unknown> };
  /** The defaults of host and actor (a worker has no os.hostname); this PC's when absent. */
  machine?: MachineDefaults;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const explicit = options.fileData?.name ?? options.file ?? env.BTC_TS_CONFIG;
  const file = explicit ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null);
  const fileSource = options.fileData ? null : file ? readConfigFile(file) : null;
  const fileLayer = options.fileData?.data ?? fileSource?.data ?? {};

  const envLayer: Record<string, unknown> = {};
  for (const { env: name, path: keyPath, parse } of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(envLayer, keyPath, parse(raw));
  }

  const defaults = defaultConfig(options.machine);
  const merged = deepMerge(deepMerge(deepMerge(structuredClone(defaults), fileLayer), envLayer), options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw configError(parsed.error, { file, fileSource, env: envLayer, overrides: options.overrides ?? {}, defaults: defaults as unknown as Record<string, unknown> });
  }

  const secrets: Secrets = {};
  for (const name of SECRET_ENV) {
    const value = env[name];
    if (value) secrets[name] = value;
  }
  const config = parsed.data;
  if (secrets.BTC_TS_API_TOKEN !== undefined && secrets.BTC_TS_API_TOKEN.length < MIN_API_TOKEN_LENGTH) {
    throw new BtcError(
      'InvalidInput',
      `config error: BTC_TS_API_TOKEN is ${secrets.BTC_TS_API_TOKEN.length} characters; use at least ${MIN_API_TOKEN_LENGTH} ` +
        `(for example: node -e "console.log(require('crypto').randomBytes(24).toString('base64url'))")`,
    );
  }
  if (config.storage.s3.endpoint && (!secrets.BTC_TS_S3_ACCESS_KEY || !secrets.BTC_TS_S3_SECRET_KEY)) {
    throw new BtcError(
      'InvalidInput',
      'config error: storage.s3.endpoint is set but BTC_TS_S3_ACCESS_KEY / BTC_TS_S3_SECRET_KEY are missing from the environment',
    );
  }
  return { config, secrets, file, layers: { defaults, file: fileLayer, env: envLayer } };
}

/**
 * The S3 connection of the primary from a loaded config, or null when `storage.s3.endpoint` is
 * not set (the directory store plays the NAS). loadConfig has already refused an endpoint without
 * both keys. Shared by the Node runtime (SDK store) and the worker (fetch store).
 */
export function s3ConnectionOf({ config, secrets }: Pick<LoadedConfig, 'config' | 'secrets'>): {
  endpoint: string; bucket: string; region?: string; accessKeyId: string; secretAccessKey: string; sessionToken?: string; requestTimeoutMs?: number;
} | null {
  const s3 = config.storage.s3;
  if (!s3.endpoint) return null;
  return {
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    accessKeyId: secrets.BTC_TS_S3_ACCESS_KEY!,
    secretAccessKey: secrets.BTC_TS_S3_SECRET_KEY!,
    sessionToken: secrets.BTC_TS_S3_SESSION_TOKEN,
    requestTimeoutMs: s3.requestTimeoutMs,
  };
}

/** Objects merge key by key; arrays and scalars replace. */
export function deepMerge<T>(base: T, over: Record<string, unknown>): T {
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}

function setPath(target: Record<string, unknown>, keyPath: string[], value: unknown): void {
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    if (!isPlainObject(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]!] = value;
}

/** Resolved absolute paths derived from the config. */
export function pathsOf(config: AppConfig) {
  const dataDir = path.resolve(config.dataDir);
  return {
    dataDir,
    logsDir: path.resolve(config.logsDir),
    cacheDir: path.join(dataDir, 'cache'),
    walDir: path.join(dataDir, 'wal'),
    fsPrimaryDir: path.resolve(config.storage.fsPrimaryDir ?? path.join(dataDir, 'nas')),
  };
}

/** The paths of a runtime (pathsOf). */
export type RuntimePaths = ReturnType<typeof pathsOf>;

/** Flattens a nested object into dotted keys (arrays stay values). */
export function flatten(obj: unknown, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isPlainObject(obj)) return out;
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isPlainObject(v)) Object.assign(out, flatten(v, key));
    else out[key] = v;
  }
  return out;
}
