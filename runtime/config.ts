// runtime/config.ts
// Loads the configuration: defaults ← config/app.yaml ← environment, validated by zod; secrets kept apart.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, defaultConfig, ENV_OVERRIDES, MIN_API_TOKEN_LENGTH, SECRET_ENV, type AppConfig, type Secrets } from '../config/schema.ts';
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
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const explicit = options.file ?? env.BTC_TS_CONFIG;
  const file = explicit ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : null);
  const fileLayer = file ? readConfigFile(file) : {};

  const envLayer: Record<string, unknown> = {};
  for (const { env: name, path: keyPath, parse } of ENV_OVERRIDES) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') setPath(envLayer, keyPath, parse(raw));
  }

  const defaults = defaultConfig();
  const merged = deepMerge(deepMerge(deepMerge(structuredClone(defaults), fileLayer), envLayer), options.overrides ?? {});
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw configError(parsed.error, file, envLayer);

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

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BtcError('InvalidInput', `config error: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new BtcError('InvalidInput', `config error: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BtcError('InvalidInput', `config error: ${file} must be a mapping at the top level`);
  }
  return doc as Record<string, unknown>;
}

/** A config error names every bad key and where its value came from. */
function configError(error: z.ZodError, file: string | null, envLayer: Record<string, unknown>): BtcError {
  const lines = error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k].join('.')) : [issue.path.join('.')];
    const from = getPath(envLayer, issue.path.map(String)) !== undefined ? 'environment' : (file ?? 'defaults');
    const what = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
    return keys.map((k) => `${k || '(root)'}: ${what} (from ${from})`).join('; ');
  });
  return new BtcError('InvalidInput', `config error: ${lines.join('; ')}`, { details: error.issues });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
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

function getPath(source: unknown, keyPath: string[]): unknown {
  let node = source;
  for (const key of keyPath) {
    if (!isPlainObject(node)) return undefined;
    node = node[key];
  }
  return node;
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
