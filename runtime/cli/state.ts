// runtime/cli/state.ts
// `runtime state update|override|prune`: the seed 003 state commands, run in this process through the invoker.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import { ALERT_MODES } from '../state/alerts.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command, Flags } from './main.ts';
import { printJson } from './output.ts';

/** Runs one state function in-process; invalid input prints the zod issues and exits 2. */
async function runStateFunction(flags: Flags, name: string, input: Record<string, unknown>): Promise<unknown> {
  const runtime = await loadRuntime(flags);
  try {
    return await runtime.invoker.invoke(name, input, 'cli');
  } catch (err) {
    if (err instanceof BtcError && err.code === 'InvalidInput' && Array.isArray(err.details)) {
      const issues = (err.details as Array<{ path: unknown[]; message: string }>).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      throw new BtcError('InvalidInput', `${err.message}: ${issues}`);
    }
    throw err;
  } finally {
    await runtime.shutdown();
  }
}

function numberFlag(flags: Flags, name: string): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value)) throw new BtcError('InvalidInput', `--${name} must be a number, got ${JSON.stringify(raw)}`);
  return value;
}

function stringFlag(flags: Flags, name: string): string | undefined {
  return typeof flags[name] === 'string' ? (flags[name] as string) : undefined;
}

export const stateUpdateCommand: Command = {
  name: 'state update',
  summary: 'seed 003 state update: re-estimate, guard, decide applied|preview|blocked',
  usage:
    'runtime state update [--simulate-live] [--dry-run] [--max-delta X] [--var-cap X] [--liquidity-cap X] [--alert-mode auto|disable|force] ' +
    '[--alert-webhook URL]… [--json-out F] [--strategy S --symbol Y --mode M] [--reset] [--config F]',
  options: {
    ...configOption,
    'simulate-live': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'max-delta': { type: 'string' },
    'var-cap': { type: 'string' },
    'liquidity-cap': { type: 'string' },
    'alert-mode': { type: 'string' },
    'alert-webhook': { type: 'string', multiple: true },
    'alert-timeout-ms': { type: 'string' },
    'json-out': { type: 'string' },
    strategy: { type: 'string' },
    symbol: { type: 'string' },
    mode: { type: 'string' },
    reset: { type: 'boolean' },
  },
  optionHelp: {
    ...configHelp,
    'simulate-live': 'the guarded pseudo-live update (without it: report only)',
    'dry-run': 'compute and print only: no state, archive or audit written, alert logged as status=preview',
    'max-delta': 'largest |relative change| of any param (0.2 = 20 %)',
    'var-cap': 'largest 5 % VaR of per-trade pnl of the new fills, in pips',
    'liquidity-cap': 'largest sum of |qty| of the new fills',
    'alert-mode': 'auto (on anomalies, default) | disable | force',
    'alert-webhook': 'webhook URL (repeatable); default $SIGNAL_WEBHOOK_URLS',
    'alert-timeout-ms': 'per attempt, default 5000 (one retry)',
    'json-out': 'also write the result JSON to this file',
    strategy: 'strategy name from the config (default: the only one)',
    symbol: "default: the strategy's symbol",
    mode: "default: the strategy's mode",
    reset: 'ignore the current state (e.g. after a config change) and re-estimate from all fills',
  },
  async run(flags) {
    const alertMode = stringFlag(flags, 'alert-mode') ?? 'auto';
    if (!(ALERT_MODES as readonly string[]).includes(alertMode)) throw new BtcError('InvalidInput', `--alert-mode must be one of ${ALERT_MODES.join('|')}, got ${alertMode}`);
    const input: Record<string, unknown> = {
      simulate_live: flags['simulate-live'] === true,
      dry_run: flags['dry-run'] === true,
      reset: flags.reset === true,
      alert_mode: alertMode,
      max_delta: numberFlag(flags, 'max-delta'),
      var_cap: numberFlag(flags, 'var-cap'),
      liquidity_cap: numberFlag(flags, 'liquidity-cap'),
      alert_timeout_ms: numberFlag(flags, 'alert-timeout-ms'),
      alert_webhook: flags['alert-webhook'],
      strategy: stringFlag(flags, 'strategy'),
      symbol: stringFlag(flags, 'symbol'),
      mode: stringFlag(flags, 'mode'),
    };
    for (const key of Object.keys(input)) if (input[key] === undefined) delete input[key];
    const result = (await runStateFunction(flags, 'state-update', input)) as { decision: { status: string } };
    const jsonOut = stringFlag(flags, 'json-out');
    if (jsonOut) {
      mkdirSync(path.dirname(path.resolve(jsonOut)), { recursive: true });
      writeFileSync(jsonOut, JSON.stringify(result, null, 2) + '\n');
    }
    printJson(result);
    // A guard refusing the update is a failed check for scripts and cron.
    return result.decision.status === 'blocked' ? 1 : 0;
  },
};

export const stateOverrideCommand: Command = {
  name: 'state override',
  summary: 'enable / disable automatic state adjustment, or show the flag',
  usage: 'runtime state override enable|disable|status [--reason R] [--dry-run] [--config F]',
  positionals: ['action'],
  options: { ...configOption, reason: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  optionHelp: { ...configHelp, reason: 'why (recorded in the flag and the audit)', 'dry-run': 'show what would be written' },
  async run(flags, [action]) {
    if (action !== 'enable' && action !== 'disable' && action !== 'status') {
      throw new BtcError('InvalidInput', `say enable, disable or status (got ${action ?? 'nothing'})`);
    }
    const input: Record<string, unknown> = { action, dry_run: flags['dry-run'] === true };
    const reason = stringFlag(flags, 'reason');
    if (reason !== undefined) input.reason = reason;
    printJson(await runStateFunction(flags, 'state-override', input));
    return 0;
  },
};

export const statePruneCommand: Command = {
  name: 'state prune',
  summary: 'keep the newest N archived state diffs per strategy/symbol/mode',
  usage: 'runtime state prune --keep N [--dry-run] [--config F]',
  options: { ...configOption, keep: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  optionHelp: { ...configHelp, keep: 'generations to keep (required)', 'dry-run': 'list what would be removed, remove nothing' },
  async run(flags) {
    const keep = numberFlag(flags, 'keep');
    if (keep === undefined || !Number.isInteger(keep) || keep < 0) throw new BtcError('InvalidInput', '--keep N is required (a whole number ≥ 0)');
    printJson(await runStateFunction(flags, 'state-prune', { keep, dry_run: flags['dry-run'] === true }));
    return 0;
  },
};

export const stateCommands: Command[] = [stateUpdateCommand, stateOverrideCommand, statePruneCommand];
