// runtime/git/restore-points.ts
// Restore points: annotated tags rp/<YYYYMMDD-HHMM>-<label>; restore checks one out on a new branch, never destroying commits.

import git from 'isomorphic-git';
import { utcStamp } from '../clock.ts';
import { BtcError } from '../errors.ts';
import { changedFiles, headOid, type GitRepo } from './repo.ts';

export const RP_PREFIX = 'rp/';
const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

export interface Tagger {
  name: string;
  email: string;
}

export interface RestorePoint {
  tag: string;
  /** The commit the tag points at. */
  commit: string;
  /** When the tag was cut (ISO), from the tag object. */
  created: string | null;
  message: string;
}

/** `rp/20260101-0930-before-sync` from the wall time (UTC) and a label. */
export function restorePointName(nowMs: number, label: string): string {
  if (!LABEL_PATTERN.test(label) || label.includes('..') || label.endsWith('.lock')) {
    throw new BtcError('InvalidInput', `bad restore point label "${label}": use letters, digits, . _ - (max 48, no spaces)`);
  }
  const { date, time } = utcStamp(nowMs);
  return `${RP_PREFIX}${date}-${time}-${label}`;
}

export async function makeRestorePoint(
  repo: GitRepo,
  options: { label: string; nowMs: number; tagger: Tagger; message?: string },
): Promise<RestorePoint> {
  const tag = restorePointName(options.nowMs, options.label);
  const commit = await headOid(repo);
  if (!commit) throw new BtcError('InvalidInput', 'the repository has no commit yet: nothing to mark');
  const existing = await git.listTags({ ...repo });
  if (existing.includes(tag)) throw new BtcError('Conflict', `restore point ${tag} already exists (pick another label)`);
  const message = options.message ?? `restore point ${options.label}`;
  await git.annotatedTag({
    ...repo,
    ref: tag,
    object: commit,
    message,
    tagger: { ...options.tagger, timestamp: Math.floor(options.nowMs / 1000), timezoneOffset: 0 },
  });
  return { tag, commit, created: new Date(Math.floor(options.nowMs / 1000) * 1000).toISOString(), message };
}

/** Every rp tag, oldest first (the name starts with its time). */
export async function listRestorePoints(repo: GitRepo): Promise<RestorePoint[]> {
  const tags = (await git.listTags({ ...repo })).filter((t) => t.startsWith(RP_PREFIX)).sort();
  return Promise.all(tags.map((tag) => describeTag(repo, tag)));
}

/**
 * Checks the restore point out on a new branch `restore/<tag>`. Refuses when the working tree has
 * any change (tracked or untracked): a checkout could overwrite it, and nothing may be lost.
 */
export async function restoreRestorePoint(repo: GitRepo, tag: string): Promise<{ branch: string; commit: string; previous: string | null }> {
  if (!tag.startsWith(RP_PREFIX)) throw new BtcError('InvalidInput', `${tag} is not a restore point (rp/… tag); see runtime rp list`);
  const tags = await git.listTags({ ...repo });
  if (!tags.includes(tag)) throw new BtcError('NotFound', `no restore point ${tag}; see runtime rp list`);
  const changes = await changedFiles(repo);
  if (changes.length > 0) {
    const shown = changes.slice(0, 10).map((c) => `${c.change} ${c.path}`).join(', ');
    throw new BtcError('Conflict', `working tree is dirty (${changes.length} change(s): ${shown}); commit or stash first, restore refused`);
  }
  const { commit } = await describeTag(repo, tag);
  const branch = `restore/${tag}`;
  const branches = await git.listBranches({ ...repo });
  if (branches.includes(branch)) throw new BtcError('Conflict', `branch ${branch} already exists; check it out or delete it first`);
  const previous = (await git.currentBranch({ ...repo })) ?? (await headOid(repo));
  await git.branch({ ...repo, ref: branch, object: commit });
  await git.checkout({ ...repo, ref: branch });
  return { branch, commit, previous };
}

async function describeTag(repo: GitRepo, tag: string): Promise<RestorePoint> {
  const oid = await git.resolveRef({ ...repo, ref: `refs/tags/${tag}` });
  try {
    const { tag: object } = await git.readTag({ ...repo, oid });
    return {
      tag,
      commit: object.object,
      created: object.tagger ? new Date(object.tagger.timestamp * 1000).toISOString() : null,
      message: object.message.trim(),
    };
  } catch {
    // A lightweight tag made by hand: the ref is the commit itself.
    return { tag, commit: oid, created: null, message: '' };
  }
}
