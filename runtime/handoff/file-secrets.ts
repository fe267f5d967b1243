// runtime/handoff/file-secrets.ts
// Finds values that are secrets by kind in the config-like files a bundle copies (webhook URLs, upload commands, tokens, passwords).

import { parseAllDocuments } from 'yaml';
import { SECRET_KEY, unquote } from '../secrets.ts';

/** Files read by key: YAML and JSON by structure, the others as `KEY=value` / `key: value` lines. */
const STRUCTURED = /\.(ya?ml|json)$/i;
const KEY_VALUE_LINES = /(\.(ini|conf|cfg|toml|properties|env|sh)|(^|\/)[^/.]*rc)$/i;
const KEY_VALUE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$/;
/**
 * Shorter values are left to SECRET_PATTERNS: masking a short common word everywhere in the
 * bundle would shred it, and real webhook URLs, commands and tokens are longer.
 */
const MIN_VALUE_LENGTH = 8;
/** Keys are names, not paths: package-lock's `node_modules/@aws-sdk/credential-provider-env` is no secret. */
const NAME_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const isSecretKey = (key: string) => NAME_KEY.test(key) && SECRET_KEY.test(key);

/** Whether secretsInConfigFile reads `relPath` at all (by its name): the other files need not be read for it. */
export function mayHoldConfigSecrets(relPath: string): boolean {
  return STRUCTURED.test(relPath) || KEY_VALUE_LINES.test(relPath);
}

/** String values under a secret-by-kind key in `text` (the content of `relPath`); empty for other files. */
export function secretsInConfigFile(relPath: string, text: string): string[] {
  const found: string[] = [];
  const json = JSON_FILE.test(relPath) ? parseJson(text) : NOT_JSON;
  if (json !== NOT_JSON) {
    collect(json, false, found);
  } else if (STRUCTURED.test(relPath)) {
    for (const doc of parseAllDocuments(text)) {
      if ('errors' in doc && doc.errors.length === 0) collect(doc.toJS({ maxAliasCount: 100 }), false, found);
    }
  } else if (KEY_VALUE_LINES.test(relPath)) {
    for (const line of text.split(/\r?\n/)) {
      const match = KEY_VALUE.exec(line);
      if (match && isSecretKey(match[1]!)) found.push(unquote(match[2]!));
    }
  }
  return [...new Set(found.filter((v) => v.length >= MIN_VALUE_LENGTH))];
}

/**
 * `.json` files go through JSON.parse first: the same values as the YAML parser for valid JSON,
 * hundreds of times faster (package-lock.json: milliseconds instead of a second). A file that is
 * not strict JSON falls back to the YAML parser.
 */
const JSON_FILE = /\.json$/i;
const NOT_JSON = Symbol('not JSON');

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/** Walks parsed YAML/JSON; every string under a secret-named key (at any depth below it) is a secret. */
function collect(node: unknown, underSecretKey: boolean, found: string[]): void {
  if (typeof node === 'string') {
    if (underSecretKey) found.push(node);
  } else if (Array.isArray(node)) {
    for (const item of node) collect(item, underSecretKey, found);
  } else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) collect(value, underSecretKey || isSecretKey(key), found);
  }
}
