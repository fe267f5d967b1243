// functions/state-prune.ts
// Archive generations: keeps the newest N <ts>_diff.json per strategy/symbol/mode and lists what it removes.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { ARCHIVE_NAME } from '../runtime/state/model.ts';
import { listKeys } from '../runtime/store/types.ts';
import { STATE_ARCHIVE_PREFIX } from '../runtime/keys.ts';

export default defineFunction({
  name: 'state-prune',
  description: 'Keep the newest N archived state diffs per strategy/symbol/mode under state_archive/; dry run lists what would go.',
  input: z
    .object({
      keep: z.number().int().nonnegative().describe('archived state diffs to keep per strategy/symbol/mode'),
      dry_run: z.boolean().default(false).describe('list what would be removed, remove nothing'),
    })
    .strict(),
  output: z.object({
    keep: z.number().int(),
    dry_run: z.boolean(),
    groups: z.array(z.object({ prefix: z.string(), total: z.number().int(), kept: z.array(z.string()), removed: z.array(z.string()) })),
    removed_total: z.number().int(),
  }),
  async run(input, ctx) {
    // The archive lives on the primary (state-update writes it there).
    const store = ctx.store.primary;
    const byPrefix = new Map<string, string[]>();
    for (const key of await listKeys(store, STATE_ARCHIVE_PREFIX)) {
      const slash = key.lastIndexOf('/');
      // Only state_archive/<strategy>/<symbol>/<mode>/<ts>_diff.json; the override flag and strays stay.
      if (key.split('/').length !== 5 || !ARCHIVE_NAME.test(key.slice(slash + 1))) continue;
      const prefix = key.slice(0, slash + 1);
      byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), key]);
    }
    const groups = [...byPrefix.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([prefix, keys]) => {
      const newestFirst = [...keys].sort().reverse();
      return { prefix, total: keys.length, kept: newestFirst.slice(0, input.keep), removed: newestFirst.slice(input.keep) };
    });
    const removed = groups.flatMap((g) => g.removed);
    if (!input.dry_run && removed.length) {
      for (const key of removed) await store.delete(key);
      await ctx.audit.record('state.archive.prune', { keep: input.keep, removed: removed.length, prefixes: groups.filter((g) => g.removed.length).map((g) => g.prefix) });
    }
    return { keep: input.keep, dry_run: input.dry_run, groups, removed_total: removed.length };
  },
});
