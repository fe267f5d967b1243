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
    const rows = keys
      .map((key) => ({
        key,
        default: show(defaults[key]),
        file: show(file[key]),
        env: show(env[key]),
        effective: show(effective[key]),
        source: key in env ? 'env' : key in file ? 'file' : 'default',
      }))
      .filter((r) => flags.all || r.source !== 'default');
    const secrets = SECRET_ENV.map((name) => ({ key: `secret ${name}`, default: '', file: '', env: describeSecret(loaded.secrets[name]), effective: describeSecret(loaded.secrets[name]), source: loaded.secrets[name] ? 'env' : 'unset' }));
    if (flags.json) {
      printJson({ file: loaded.file, rows: [...rows, ...secrets] });
      return 0;
    }
    console.log(`config file: ${loaded.file ?? '(none)'}${flags.all ? '' : '   (keys at their default hidden; --all shows them)'}`);
    printTable(
      ['key', 'default', 'file', 'env', 'effective', 'from'],
      [...rows, ...secrets].map((r) => [r.key, color.dim(r.default), r.file, r.env, r.effective, r.source]),
    );
    return 0;
  },
};
