// runtime/cli/config-diff.ts
// `runtime config diff`: defaults vs config file vs environment vs secrets, secrets masked.

import { SECRET_ENV } from '../../config/schema.ts';
import { flatten, loadConfig } from '../config.ts';
import { describeSecret } from '../secrets.ts';
import { configHelp, configOption } from './load.ts';
import type { Command } from './main.ts';
import { color, printJson, printTable } from './output.ts';

export const configDiffCommand: Command = {
  name: 'config diff',
  summary: 'defaults vs file vs env vs secrets (masked)',
  usage: 'runtime config diff [--all] [--json] [--config F]',
  options: { ...configOption, all: { type: 'boolean' }, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, all: 'also list keys left at their default', json: 'print rows as JSON' },
  async run(flags) {
    const loaded = loadConfig({ file: flags.config as string | undefined });
    const defaults = flatten(loaded.layers.defaults);
    const file = flatten(loaded.layers.file);
    const env = flatten(loaded.layers.env);
    const effective = flatten(loaded.config);
    const keys = [...new Set([...Object.keys(defaults), ...Object.keys(file), ...Object.keys(env), ...Object.keys(effective)])].sort();
    const show = (v: unknown) => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
    const rows = keys.map((key) => ({
        key,
        default: show(defaults[key]),
        file: show(file[key]),
        env: show(env[key]),
        effective: show(effective[key]),
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
