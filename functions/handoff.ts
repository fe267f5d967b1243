// functions/handoff.ts
// Produces the handoff bundle (seed ch. 27), stores it under handoff/, audits it; answers the zip itself on Accept: application/zip.

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineFunction, type FnContext } from '../runtime/define.ts';
import { BtcError, isBtcError } from '../runtime/errors.ts';
import type { Bundle } from '../runtime/handoff/bundle.ts';
import { repoDirOf } from '../runtime/handoff/files.ts';
import type { BinaryResult } from '../runtime/http/app.ts';
import { handoffFileName, handoffKey } from '../runtime/keys.ts';
import { defineSlot } from '../runtime/local-slots.ts';
import { isHandoffResult, ZIP_CONTENT_TYPE, type HandoffResult, type HandoffSummary } from '../runtime/handoff/result.ts';

/** Bundles cut in the same minute get _2, _3, … rather than replacing an audited one. */
const MAX_SAME_MINUTE = 20;

export default defineFunction({
  name: 'handoff',
  description:
    'Make Handoff_YYYYMMDD_HHMM.zip (repo structure, env manifest, context map, handover, git, masked samples), store it under handoff/ and audit handover.bundle.create. With Accept: application/zip the HTTP answer is the zip.',
  input: z
    .object({
      /** Cut a restore point (rp tag) before bundling. */
      rp: z.boolean().optional().describe('cut a restore point (rp tag) first'),
      /** Label of that restore point (default "handoff"). */
      label: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/, 'letters, digits, . _ - (max 48)').optional().describe('label of that restore point (implies rp; default "handoff")'),
      /** Session recorded in the audit event (default: this runtime process's session). */
      session: z.string().min(1).max(100).optional().describe('session recorded in the audit event (default: the runtime process\'s session)'),
    })
    .strict(),
  // The result carries bytes; z.custom keeps the very object (zod would copy a plain object and drop toJSON).
  output: z
    .custom<HandoffResult>(isHandoffResult, 'handoff must return the zip and its summary')
    .meta({ description: 'The zip itself with Accept: application/zip; else JSON { key, bytes, sha256, files, restore_point, session }.' }),
  async run(input, ctx) {
    // Loaded on the first run, not at start: isomorphic-git and the zip libraries take a while to import.
    // restore-points (and isomorphic-git with it) only when a restore point is asked for: the bundle reads git through its CLI when it can.
    const bundleModule = import('../runtime/handoff/bundle.ts');
    bundleModule.catch(() => undefined); // awaited below; a restore point failing first must not leave it unhandled
    const { gitSummary, openRepo } = await import('../runtime/git/repo.ts');
    const repoDir = repoDirOf(ctx.config);
    const repo = await openRepo(repoDir);
    const session = input.session ?? sessionOf(ctx);
    const nowMs = ctx.clock.now();
    let restorePoint: string | null = null;
    if (input.rp || input.label) {
      if (!repo) throw new BtcError('InvalidInput', `${repoDir} is not a git repository: no restore point possible`);
      const { makeRestorePoint } = await import('../runtime/git/restore-points.ts');
      const rp = await makeRestorePoint(repo, {
        label: input.label ?? 'handoff',
        nowMs,
        tagger: { name: ctx.config.actor, email: `${ctx.config.actor}@${ctx.host}` },
        message: `handoff restore point (session ${session})`,
      });
      restorePoint = rp.tag;
    }
    // git starts now (after any restore point, which it must see), while the bundle's code loads.
    const git = repo ? gitSummary(repo) : Promise.resolve(null);
    git.catch(() => undefined); // awaited by buildBundle; this only keeps a failure while the import runs from counting as unhandled
    const { buildBundle } = await bundleModule;
    const bundle = await buildBundle({
      repoDir,
      repo,
      git,
      settings: ctx.config.handoff,
      nowMs,
      identity: { host: ctx.host, actor: ctx.config.actor, site: ctx.config.site, mode: ctx.mode.get(), session },
      masker: ctx.masker,
      store: ctx.store,
      streams: ctx.config.collector.streams,
      logsDir: ctx.paths.logsDir,
      restorePoint,
    });
    const key = await storeBundle(ctx, bundle);
    await ctx.audit.record('handover.bundle.create', {
      actor: ctx.config.actor,
      site: ctx.config.site,
      session,
      key,
      bytes: bundle.bytes.length,
      sha256: bundle.sha256,
      files: bundle.files.length,
      restore_point: restorePoint,
      stored_in: ctx.store.state().secondary === 'used' ? 'cache' : 'primary',
    });
    ctx.log.info({ key, bytes: bundle.bytes.length, sha256: bundle.sha256 }, 'handoff bundle created');
    const json: HandoffSummary = { key, bytes: bundle.bytes.length, sha256: bundle.sha256, files: bundle.files, restore_point: restorePoint, session };
    return { contentType: ZIP_CONTENT_TYPE, filename: handoffFileName(key), bytes: bundle.bytes, json, toJSON: () => json } as HandoffResult;
  },
});

/** Create-only put under handoff/; the router writes to the cache while the primary is down. */
async function storeBundle(ctx: FnContext, bundle: Bundle): Promise<string> {
  const base = handoffKey(bundle.name.replace(/\.zip$/, ''));
  for (let n = 1; n <= MAX_SAME_MINUTE; n++) {
    const key = n === 1 ? `${base}.zip` : `${base}_${n}.zip`;
    try {
      await ctx.store.put(key, bundle.bytes, { ifNoneMatch: '*', contentType: ZIP_CONTENT_TYPE });
      return key;
    } catch (err) {
      if (!isBtcError(err, 'PreconditionFailed')) throw err;
    }
  }
  throw new BtcError('Conflict', `${MAX_SAME_MINUTE} bundles already exist for ${base}; try again next minute`);
}

/** This runtime's handoff session id: made and read only by sessionOf. */
const SESSION_SLOT = defineSlot<string>('handoff:session');

/** One session id per runtime process unless the caller names one. */
function sessionOf(ctx: FnContext): string {
  return ctx.local.ensure(SESSION_SLOT, () => `${ctx.host}-${new Date(ctx.clock.now()).toISOString().slice(0, 16).replace(/[-:]/g, '')}-${randomUUID().slice(0, 8)}`);
}
