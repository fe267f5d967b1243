// runtime/cli/rp.ts
// `runtime rp make <label> | list | restore <tag>`: restore points as annotated git tags, without a git binary.

import { loadConfig } from '../config.ts';
import { BtcError } from '../errors.ts';
import { openRepo, type GitRepo } from '../git/repo.ts';
import { listRestorePoints, makeRestorePoint, restoreRestorePoint } from '../git/restore-points.ts';
import { repoDirOf } from '../handoff/files.ts';
import { configHelp, configOption } from './load.ts';
import type { Command, Flags } from './main.ts';
import { printJson, printTable } from './output.ts';
import { listed } from './summaries.ts';

const repoOptions = { ...configOption, dir: { type: 'string' }, json: { type: 'boolean' } } as const;
const repoHelp = { ...configHelp, dir: 'the repository (default: handoff.repoDir, i.e. this installation)', json: 'print JSON' };

export const rpMakeCommand: Command = {
  ...listed('rp make'),
  parsesOnce: true,
  usage: 'runtime rp make <label> [--message M] [--dir D] [--json] [--config FILE]',
  positionals: ['label'],
  options: { ...repoOptions, message: { type: 'string' } },
  optionHelp: { ...repoHelp, message: 'tag message (default "restore point <label>")' },
  async run(flags, [label]) {
    if (!label) throw new BtcError('InvalidInput', 'name the restore point: runtime rp make <label>');
    const { repo, config } = await repoOf(flags);
    const rp = await makeRestorePoint(repo, {
      label,
      nowMs: Date.now(),
      tagger: { name: config.actor, email: `${config.actor}@${config.host}` },
      message: flags.message as string | undefined,
    });
    if (flags.json) printJson(rp);
    else console.log(`${rp.tag} → ${rp.commit.slice(0, 7)}`);
    return 0;
  },
};

export const rpListCommand: Command = {
  ...listed('rp list'),
  parsesOnce: true,
  usage: 'runtime rp list [--dir D] [--json] [--config FILE]',
  options: repoOptions,
  optionHelp: repoHelp,
  async run(flags) {
    const points = await listRestorePoints((await repoOf(flags)).repo);
    if (flags.json) printJson(points);
    else if (points.length === 0) console.log('no restore points yet (runtime rp make <label>)');
    else printTable(['tag', 'commit', 'created', 'message'], points.map((p) => [p.tag, p.commit.slice(0, 7), p.created ?? '', p.message]));
    return 0;
  },
};

export const rpRestoreCommand: Command = {
  ...listed('rp restore'),
  parsesOnce: true,
  usage: 'runtime rp restore <tag> [--dir D] [--json] [--config FILE]',
  positionals: ['tag'],
  options: repoOptions,
  optionHelp: repoHelp,
  async run(flags, [tag]) {
    if (!tag) throw new BtcError('InvalidInput', 'name the restore point: runtime rp restore <rp/…> (see runtime rp list)');
    const { repo } = await repoOf(flags);
    try {
      const restored = await restoreRestorePoint(repo, tag);
      if (flags.json) printJson(restored);
      else console.log(`on branch ${restored.branch} at ${restored.commit.slice(0, 7)} (was ${restored.previous}); nothing was deleted`);
      return 0;
    } catch (err) {
      // An unknown tag is bad input (2); a dirty tree is a refused check (1).
      if (err instanceof BtcError && err.code === 'NotFound') throw new BtcError('InvalidInput', err.message);
      throw err;
    }
  },
};

async function repoOf(flags: Flags): Promise<{ repo: GitRepo; config: ReturnType<typeof loadConfig>['config'] }> {
  const { config } = loadConfig({ file: flags.config as string | undefined });
  const dir = typeof flags.dir === 'string' ? flags.dir : repoDirOf(config);
  const repo = await openRepo(dir);
  if (!repo) throw new BtcError('InvalidInput', `${dir} is not a git repository`);
  return { repo, config };
}
