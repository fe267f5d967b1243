// runtime/cli/config-diff.ts
// `runtime config diff`: defaults vs config file vs environment vs secrets, secrets masked.

import { SECRET_ENV } from '../../config/schema.ts';
import { flatten, loadConfig } from '../config.ts';
import { commandSecretValues, configSecretValues, createMasker, describeSecret, SECRET_KEY } from '../secrets.ts';
import { redactUrl } from '../state/alerts.ts';
import { configHelp, configOption } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

/**
 * What `config diff` shows of a value whose key names a secret kind (SECRET_KEY: webhook URLs, the
 * upload command, tokens): URLs as redactUrl shows them (`https://host/…#1a2b3c4d`), anything else
 * as `*** (set, N chars)`. Other values are returned as they are.
 */
export function secretShown(key: string, v: unknown): unknown {
  if (!SECRET_KEY.test(key.split('.').pop() ?? key)) return v;
  const one = (x: unknown) => (typeof x === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(x) ? redactUrl(x) : typeof x === 'string' ? describeSecret(x) : x);
  return Array.isArray(v) ? v.map(one) : one(v);
}

/** Secret-kind values of one config layer (the file or the environment may hold ones the merged config replaced). */
function layerSecretValues(flat: Record<string, unknown>): string[] {
  return Object.entries(flat)
    .filter(([key]) => SECRET_KEY.test(key.split('.').pop() ?? key))
    .flatMap(([, v]) => (Array.isArray(v) ? v : [v]))
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => [v, ...commandSecretValues(v)]);
}

export const configDiffCommand: Command = {
  ...listed('config diff'),
  parsesOnce: true,
  usage: 'runtime config diff [--all] [--json] [--config FILE]',
  options: { ...configOption, all: { type: 'boolean' }, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, all: 'also list keys left at their default', json: 'print rows as JSON' },
  async run(flags) {
    const loaded = loadConfig({ file: flags.config as string | undefined });
    const defaults = flatten(loaded.layers.defaults);
    const file = flatten(loaded.layers.file);
    const env = flatten(loaded.layers.env);
    const effective = flatten(loaded.config);
    const keys = [...new Set([...Object.keys(defaults), ...Object.keys(file), ...Object.keys(env), ...Object.keys(effective)])].sort();
    // Webhook URLs carry their token in the path and the upload command its password: shown as the
    // alert logs show them, and every cell passes the masker (env secrets and secret-shaped strings).
    const masker = createMasker(loaded.secrets, [...configSecretValues(loaded.config), ...layerSecretValues(file), ...layerSecretValues(env)]);
    const show = (key: string, raw: unknown) => {
      if (raw === undefined) return '';
      const v = secretShown(key, raw);
      return masker.text(typeof v === 'string' ? v : JSON.stringify(v));
    };
    const rows = keys.map((key) => ({
        key,
        default: show(key, defaults[key]),
        file: show(key, file[key]),
        env: show(key, env[key]),
        effective: show(key, effective[key]),
        source: key in env ? 'env' : key in file ? 'file' : 'default',
      }));
    // "At its default" means the effective value equals the default, wherever it came from: a file
    // that repeats a default (the shipped app.yaml does) changes nothing worth showing.
    const atDefault = (r: { default: string; effective: string }) => r.effective === r.default;
    const hidden = flags.all ? 0 : rows.filter(atDefault).length;
    const shown = flags.all ? rows : rows.filter((r) => !atDefault(r));
    const secrets = SECRET_ENV.map((name) => ({ key: `secret ${name}`, default: '', file: '', env: describeSecret(loaded.secrets[name]), effective: describeSecret(loaded.secrets[name]), source: loaded.secrets[name] ? 'env' : 'unset' }));
    if (flags.json) {
      printJson({ file: loaded.file, hidden_at_default: hidden, rows: [...shown, ...secrets] });
      return 0;
    }
    const note = flags.all ? '' : `   (${hidden} key(s) at their default value hidden; --all shows them)`;
    console.log(`config file: ${loaded.file ?? '(none)'}${note}`);
    if (!flags.all && shown.length === 0) console.log('every key is at its default value');
    printTable(
      ['key', 'default', 'file', 'env', 'effective', 'from'],
      [...shown, ...secrets].map((r) => [r.key, color.dim(r.default), r.file, r.env, r.effective, r.source]),
    );
    return 0;
  },
};
