// runtime/config-source.ts
// Reads config/app.yaml keeping where each key sits, so a config error can say `file:line:col` and which layer a bad key came from.

import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ENV_OVERRIDES } from '../config/schema.ts';
import { BtcError } from './errors.ts';

/** A parsed config file and a way back from a key path to its place in the text. */
export interface ConfigFile {
  data: Record<string, unknown>;
  /** 1-based line and column of the key at `keyPath` (of the value for a sequence item); null when absent. */
  locate(keyPath: ReadonlyArray<string | number>): { line: number; col: number } | null;
}

/** @throws BtcError InvalidInput when the file cannot be read, is not YAML, or is not a mapping. */
export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BtcError('InvalidInput', `config error: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = syntax.linePos?.[0];
    throw new BtcError('InvalidInput', `config error: ${file}${at ? `:${at.line}:${at.col}` : ''} is not valid YAML: ${syntax.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new BtcError('InvalidInput', `config error: ${file} must be a mapping at the top level`);
  }
  return {
    data: data as Record<string, unknown>,
    locate(keyPath) {
      let node: unknown = doc.contents;
      let at: YamlNode | null = null;
      for (const segment of keyPath) {
        if (isMap(node)) {
          const pair = node.items.find((p) => keyText(p.key) === String(segment));
          if (!pair) return null;
          at = pair.key as YamlNode;
          node = pair.value;
        } else if (isSeq(node) && typeof segment === 'number') {
          node = node.items[segment];
          at = node as YamlNode;
        } else return null;
      }
      const offset = at?.range?.[0];
      return offset === undefined ? null : lines.linePos(offset);
    },
  };
}

function keyText(key: unknown): string | undefined {
  if (key && typeof key === 'object' && 'value' in key) return String((key as { value: unknown }).value);
  return key === null || key === undefined ? undefined : String(key);
}

export interface ConfigLayers {
  file: string | null;
  fileSource: ConfigFile | null;
  env: Record<string, unknown>;
  overrides: Record<string, unknown>;
  defaults: Record<string, unknown>;
}

/**
 * One line per zod issue: `key: what (from <where>)`, where is the env variable, the CLI flag,
 * `file:line:col`, or the defaults — the layer that supplied the key last. Unknown keys get a
 * "did you mean" when a known sibling is one or two edits away.
 */
export function configError(error: z.ZodError, layers: ConfigLayers): BtcError {
  const lines = error.issues.map((issue) => {
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return paths
      .map((keyPath) => {
        const name = keyPath.map(String).join('.') || '(root)';
        let what = issue.code === 'unrecognized_keys' ? 'unknown key' : issue.message;
        if (issue.code === 'unrecognized_keys') {
          const known = getPath(layers.defaults, issue.path.map(String));
          const guess = isPlainObject(known) ? closest(String(keyPath[keyPath.length - 1]), Object.keys(known)) : null;
          if (guess) what += ` (did you mean ${[...issue.path.map(String), guess].join('.')}?)`;
        }
        return `${name}: ${what} (from ${sourceOf(keyPath.map(String), layers)})`;
      })
      .join('; ');
  });
  return new BtcError('InvalidInput', `config error: ${lines.join('; ')}`, { details: error.issues });
}

/** The layer that set `keyPath` last, in merge order: flags ← environment ← file ← defaults. */
function sourceOf(keyPath: string[], layers: ConfigLayers): string {
  if (setIn(layers.overrides, keyPath)) return 'command-line flag';
  if (setIn(layers.env, keyPath)) {
    // The variable whose path is the key or holds it (BTC_TS_PREFERRED_SHARDS sets lease.preferredShards.<host>.<i>).
    const variable = ENV_OVERRIDES.find((o) => o.path.length <= keyPath.length && o.path.every((k, i) => k === keyPath[i]));
    return variable ? `environment ${variable.env}` : 'environment';
  }
  if (layers.file && (keyPath.length === 0 || getPath(layers.fileSource?.data, keyPath) !== undefined)) {
    const at = keyPath.length > 0 ? layers.fileSource?.locate(keyPath) : null;
    return at ? `${layers.file}:${at.line}:${at.col}` : layers.file;
  }
  return 'defaults';
}

/** A layer sets a key when it holds a value there; `http: {}` (start's empty flag group) sets nothing. */
function setIn(layer: Record<string, unknown>, keyPath: string[]): boolean {
  const value = keyPath.length > 0 ? getPath(layer, keyPath) : undefined;
  return value !== undefined && !(isPlainObject(value) && Object.keys(value).length === 0);
}

/** A YAML/JSON mapping (not null, not an array): the one test config.ts's merge uses too. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getPath(source: unknown, keyPath: string[]): unknown {
  let node = source;
  for (const key of keyPath) {
    if (isPlainObject(node)) node = node[key];
    else if (Array.isArray(node)) node = node[Number(key)];
    else return undefined;
  }
  return node;
}

/** The candidate at most two edits from `word` (case-insensitive), or null. */
function closest(word: string, candidates: string[]): string | null {
  let best: { name: string; distance: number } | null = null;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}
