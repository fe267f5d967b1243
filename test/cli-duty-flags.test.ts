// test/cli-duty-flags.test.ts
// Duty-mapped commands take their flags from the duty's zod input (help lists exactly its keys, the duty's own message refuses a bad value with exit 2), and one error code exits the same in-process and over HTTP.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandsStartingWith } from '../runtime/cli/commands.ts';
import { deriveFlags, inputFromFlags, usageOf } from '../runtime/cli/flags-from-zod.ts';
import { defineFunction } from '../runtime/define.ts';
import { BtcError, ERROR_CODE_LIST, ERROR_CODES, exitCodeOf, exitCodeOfAnswer, type ErrorCode } from '../runtime/errors.ts';
import { createApp } from '../runtime/http/app.ts';
import { loadFunction } from '../runtime/registry.ts';
import { freePort } from './helpers/minio.ts';
import { runCli } from './helpers/run-cli.ts';
import { testRuntime, type TestRuntime } from './helpers/runtime-inproc.ts';

/** Every command that runs a duty: its words, the duty, and the input keys it spells otherwise. */
const MAPPED: Array<{ words: string[]; duty: string; flagOf?: Record<string, string> }> = [
  { words: ['sync'], duty: 'sync' },
  { words: ['compact'], duty: 'compact', flagOf: { streams: '--stream' } },
  { words: ['quality'], duty: 'data-quality' },
  { words: ['dashboard', 'export'], duty: 'dashboard-export', flagOf: { datasets: '--dataset', upload: '--no-upload' } },
  { words: ['state', 'update'], duty: 'state-update' },
  { words: ['state', 'override'], duty: 'state-override', flagOf: { action: '<action>' } },
  { words: ['state', 'prune'], duty: 'state-prune' },
  { words: ['handoff', 'make'], duty: 'handoff' },
];

/** The input section of a command's --help: flag → input key, read from each line's `[key: …]`. */
function inputSection(help: string, duty: string): Map<string, string> {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`input of the duty ${duty} `));
  expect(start, help).toBeGreaterThanOrEqual(0);
  const rows = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    const m = /^ {2}(--[a-z-]+|<[a-z_]+>) .*\[([a-z_]+): /.exec(line);
    expect(m, `help line ${JSON.stringify(line)}`).not.toBeNull();
    rows.set(m![1]!, m![2]!);
  }
  return rows;
}

/** The first zod issue message the duty's own input schema gives for `raw`. */
async function dutyMessage(duty: string, raw: unknown): Promise<string> {
  const parsed = (await loadFunction(duty)).input.safeParse(raw);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues[0]!.message;
}

describe('CLI flags derived from the duty input', () => {
  it("each mapped command's --help lists exactly its duty's input keys, as kebab-case flags", async () => {
    const helps = await Promise.all(MAPPED.map((m) => runCli([...m.words, '--help'])));
    for (const [i, m] of MAPPED.entries()) {
      const help = helps[i]!;
      expect(help.code, help.stderr).toBe(0);
      const keys = Object.keys(((await loadFunction(m.duty)).input as z.ZodObject).shape);
      const rows = inputSection(help.stdout, m.duty);
      expect([...rows.values()].sort(), `runtime ${m.words.join(' ')}`).toEqual([...keys].sort());
      for (const [flag, key] of rows) expect(flag).toBe(m.flagOf?.[key] ?? `--${key.replace(/_/g, '-')}`);
    }
    // Bounds, enum values and defaults are the schema's, printed from it.
    const sync = helps[0]!.stdout;
    expect(sync).toMatch(/--concurrency <value>\s+uploads in flight at once \[concurrency: integer 1\.\.64, default 24\]/);
    expect(helps[4]!.stdout).toMatch(/--alert-mode <value>\s+.*\[alert_mode: auto \| disable \| force, default "auto"\]/);
    expect(helps[6]!.stdout).toMatch(/--keep <value>\s+.*\[keep: integer ≥ 0, required\]/);
   }, 120_000); // 8 real CLI processes at once: generous on a loaded 2-core machine

  it('a bound, enum or format violation is refused with exit 2 and the duty’s own zod message, named by its flag', async () => {
    const cases: Array<{ args: string[]; duty: string; raw: unknown; flag: string }> = [
      { args: ['sync', '--concurrency', '65'], duty: 'sync', raw: { concurrency: 65 }, flag: '--concurrency' },
      { args: ['state', 'update', '--alert-mode', 'loud'], duty: 'state-update', raw: { alert_mode: 'loud' }, flag: '--alert-mode' },
      { args: ['quality', '--coverage-threshold', '1.5'], duty: 'data-quality', raw: { coverage_threshold: 1.5 }, flag: '--coverage-threshold' },
      { args: ['dashboard', 'export', '--dataset', 'nope'], duty: 'dashboard-export', raw: { datasets: ['nope'] }, flag: '--dataset' },
      { args: ['compact', '--date', '2026-1-1'], duty: 'compact', raw: { date: '2026-1-1' }, flag: '--date' },
      { args: ['state', 'prune'], duty: 'state-prune', raw: {}, flag: '--keep' },
      { args: ['state', 'override', 'maybe'], duty: 'state-override', raw: { action: 'maybe' }, flag: '<action>' },
    ];
    const runs = await Promise.all(cases.map((c) => runCli(c.args)));
    for (const [i, c] of cases.entries()) {
      const run = runs[i]!;
      const message = await dutyMessage(c.duty, c.raw);
      expect([run.code, run.stderr.trim()], c.args.join(' ')).toEqual([2, `runtime ${c.args.slice(0, c.args[0] === 'state' || c.args[0] === 'dashboard' ? 2 : 1).join(' ')}: invalid input for ${c.duty}: ${c.flag}: ${message}`]);
    }
   }, 120_000);

  it('derives repeatable, negated and positional flags and checks them through the schema (in-process)', () => {
    const schema = z.object({
      streams: z.array(z.string()).default([]).describe('only these'),
      upload: z.boolean().default(true),
      action: z.enum(['on', 'off']),
      count: z.number().int().min(1).max(3).optional(),
    }).strict();
    const flags = deriveFlags(schema, { flagNames: { streams: 'stream' }, positionalKeys: ['action'] });
    expect(flags.map((f) => f.flag)).toEqual(['--stream', '--no-upload', '<action>', '--count']);
    expect(flags[0]).toMatchObject({ multiple: true, help: 'only these [streams: string, repeatable, default []]' });
    expect(inputFromFlags('x', schema, flags, { stream: ['a', 'b'], 'no-upload': true, count: '2' }, ['on'])).toEqual({ streams: ['a', 'b'], upload: false, action: 'on', count: 2 });
    expect(inputFromFlags('x', schema, flags, {}, ['off'])).toEqual({ streams: [], upload: true, action: 'off' });
    let err: unknown;
    try {
      inputFromFlags('x', schema, flags, { count: '4' }, []);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BtcError);
    expect((err as BtcError).code).toBe('InvalidInput');
    expect((err as BtcError).message).toBe('invalid input for x: <action>: Invalid option: expected one of "on"|"off"; --count: Too big: expected number to be <=3');
    expect((err as BtcError).details).toEqual(schema.safeParse({ count: 4 }).error!.issues);
  });
});

describe('usage lines derived from the flags', () => {
  it('usageOf: positionals first, required bare, optional bracketed, repeatable …, enum values and N/X/URL or the option name for a value', () => {
    const schema = z.object({
      streams: z.array(z.string()).default([]),
      upload: z.boolean().default(true),
      action: z.enum(['on', 'off']),
      count: z.number().int().min(1),
      ratio: z.number().optional(),
      hook: z.url().optional(),
    });
    const flags = deriveFlags(schema, { flagNames: { streams: 'stream' }, positionalKeys: ['action'] });
    expect(usageOf('thing do', flags, { config: { type: 'string' }, json: { type: 'boolean' }, tag: { type: 'string', multiple: true } })).toBe(
      'runtime thing do on|off [--stream STREAM]… [--no-upload] --count N [--ratio X] [--hook URL] [--config FILE] [--json] [--tag TAG]…',
    );
  });

  it("every zod-checked command's usage line names exactly the options it parses, and its positionals", async () => {
    const commands = [...MAPPED.map((m) => m.words), ['dashboard', 'verify']];
    for (const words of commands) {
      const command = (await commandsStartingWith(words[0]!)).find((c) => c.name === words.join(' '))!;
      const prepared = await command.prepare!();
      const named = [...prepared.usage.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]);
      expect(named.sort(), prepared.usage).toEqual(Object.keys(prepared.options ?? {}).sort());
      expect(prepared.usage.startsWith(`runtime ${words.join(' ')} `)).toBe(true);
    }
    const override = (await commandsStartingWith('state')).find((c) => c.name === 'state override')!;
    expect((await override.prepare!()).usage).toMatch(/^runtime state override enable\|disable\|status \[/);
  });

  it('runtime dashboard verify judges its flags with its zod schema: a bad value exits 2 naming the flag', async () => {
    const [hours, notNumber, dataset, help] = await Promise.all([
      runCli(['dashboard', 'verify', '--max-heartbeat-age-h', '0']),
      runCli(['dashboard', 'verify', '--max-heartbeat-age-h', 'soon']),
      runCli(['dashboard', 'verify', '--expected-dataset', 'nope']),
      runCli(['dashboard', 'verify', '--help']),
    ]);
    expect([hours.code, hours.stderr.trim()]).toEqual([2, 'runtime dashboard verify: invalid input for dashboard verify: --max-heartbeat-age-h: must be a positive number of hours']);
    expect([notNumber.code, notNumber.stderr.trim()]).toEqual([2, 'runtime dashboard verify: invalid input for dashboard verify: --max-heartbeat-age-h: must be a positive number of hours']);
    expect(dataset.code).toBe(2);
    expect(dataset.stderr).toMatch(/^runtime dashboard verify: invalid input for dashboard verify: --expected-dataset: .*"turnover"/);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--expected-dataset <value> …\s+.*\[expected_datasets: latency \| turnover \| slippage \| ev_history \| coverage, repeatable\]/);
  }, 120_000);
});

describe('one error code, one exit code: in-process and over HTTP', () => {
  const failsWith = defineFunction({
    name: 'fails-with',
    description: 'throws a BtcError of the code it is given (test only)',
    input: z.object({ code: z.enum(ERROR_CODE_LIST as [ErrorCode, ...ErrorCode[]]) }).strict(),
    output: z.object({}),
    async run(input) {
      throw new BtcError(input.code, `failed with ${input.code}`);
    },
  });
  let rt: TestRuntime;
  let server: ReturnType<typeof serve> | undefined;
  let port: number;
  let cliDir: string;

  beforeAll(async () => {
    rt = await testRuntime({ BTC_TS_HOST: 'pc-exit-codes' }, { functions: new Map([['fails-with', failsWith]]), schedules: [] });
    port = await freePort();
    server = serve({ fetch: createApp(rt).fetch, hostname: '127.0.0.1', port });
    cliDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-exit-codes-'));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await rt?.dispose();
    if (cliDir) rmSync(cliDir, { recursive: true, force: true });
  });

  it('every code: the exit code of the HTTP answer is the exit code of the same failure in this process', async () => {
    for (const code of ERROR_CODE_LIST) {
      const local = exitCodeOf(await rt.invoker.invoke('fails-with', { code }, 'cli').catch((e: unknown) => e));
      const res = await fetch(`http://127.0.0.1:${port}/fn/fails-with`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
      expect(res.status, code).toBe(ERROR_CODES[code].status);
      expect([code, exitCodeOfAnswer(res.status, await res.json())]).toEqual([code, local]);
      expect(local).toBe(ERROR_CODES[code].exit);
    }
    // A body without a known error name (an older runtime, a stranger) falls back on the status.
    expect([exitCodeOfAnswer(400, {}), exitCodeOfAnswer(404, { error: 'nope' }), exitCodeOfAnswer(502, null)]).toEqual([2, 1, 1]);
  });

  it('runtime invoke through the running runtime: NotFound exits 1 as in-process (was 2); an unknown function exits 2 both ways', async () => {
    const env = { BTC_TS_HOST: 'pc-exit-codes', BTC_TS_PORT: String(port), BTC_TS_DATA_DIR: cliDir, BTC_TS_LOGS_DIR: path.join(cliDir, 'logs') };
    const [notFound, unknownRemote, unknownLocal] = await Promise.all([
      runCli(['invoke', 'fails-with', '--input', '{"code":"NotFound"}'], env),
      runCli(['invoke', 'no-such-duty'], env),
      runCli(['invoke', 'no-such-duty', '--local'], env),
    ]);
    expect(JSON.parse(notFound.stdout)).toMatchObject({ ok: false, error: 'not_found' });
    expect(notFound.code).toBe(exitCodeOf(new BtcError('NotFound', 'x')));
    expect(notFound.code).toBe(1);
    expect(JSON.parse(unknownRemote.stdout)).toMatchObject({ ok: false, error: 'unknown_function' });
    expect(unknownLocal.stderr).toContain('unknown function no-such-duty');
    expect([unknownRemote.code, unknownLocal.code]).toEqual([2, 2]);
   }, 120_000);
});
