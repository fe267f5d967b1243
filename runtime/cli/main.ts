// runtime/cli/main.ts
// The `runtime` command line: dispatches sub-commands, prints help, maps errors to exit codes 0/1/2.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { BtcError, exitCodeOf } from '../errors.ts';
import { commandsStartingWith } from './commands.ts';
import { plain } from './output.ts';
import { COMMAND_SUMMARIES, type CommandListing } from './summaries.ts';

export type Flags = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  /** Words after `runtime`, e.g. `config diff`. */
  name: string;
  summary: string;
  /** Written out for a command with hand-checked flags; derived from the schema for a zod command (flags-from-zod.ts usageOf). */
  usage: string;
  options?: ParseArgsConfig['options'];
  /** One line per option for --help. */
  optionHelp?: Record<string, string>;
  /** Positional arguments allowed (names for help). */
  positionals?: string[];
  /** The command parses its config and input once and few values besides (`handoff make`, `status`): zod runs without its compiled fast path (see parseWithoutJit). */
  parsesOnce?: boolean;
  /**
   * A duty-mapped command (runtime/cli/flags-from-zod.ts): the command with its flags derived
   * from the duty's zod input, called once before its flags are parsed or its help is printed.
   */
  prepare?(): Promise<Command>;
  /** The --help section of the flags that are the duty's input (their names in `options`). */
  inputHelp?: { title: string; flags: string[]; lines: string[] };
  run(flags: Flags, positionals: string[]): Promise<number>;
}

/** Exit codes: 0 ok, 1 a check or run failed, 2 bad usage or input. */
export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnClosedPipe();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    printHelp(COMMAND_SUMMARIES);
    return argv.length === 0 ? 2 : 0;
  }
  const commands = await commandsStartingWith(argv[0]!);
  // Longest match first: `config diff` before `config`.
  let command = [...commands]
    .sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)
    .find((c) => {
      const words = c.name.split(' ');
      return words.every((w, i) => argv[i] === w);
    });
  if (!command) {
    // `runtime rp` or `runtime handoff --help`: name the sub-commands of that group.
    // A duty command's usage line is derived from its schema: prepare it first.
    // One duty that fails to load still leaves the others' lines, and its own placeholder line.
    const group = await Promise.all(commands.filter((c) => c.name.split(' ')[0] === argv[0] && c.name.includes(' ')).map((c) => (c.prepare ? c.prepare().catch(() => c) : c)));
    if (group.length) {
      const asked = argv.includes('--help') || argv.includes('-h');
      (asked ? console.log : console.error)(`runtime ${argv[0]}: name a sub-command:\n${group.map((c) => `  ${c.usage}`).join('\n')}`);
      return asked ? 0 : 2;
    }
    console.error(`runtime: unknown command "${argv.join(' ')}". Run \`runtime --help\`.`);
    return 2;
  }
  if (command.parsesOnce) await parseWithoutJit();
  if (command.prepare) command = await command.prepare();
  const rest = argv.slice(command.name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) {
    printCommandHelp(command);
    return 0;
  }
  let flags: Flags;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
    flags = parsed.values as Flags;
    positionals = parsed.positionals;
  } catch (err) {
    console.error(`runtime ${command.name}: ${(err as Error).message}\nusage: ${command.usage}`);
    return 2;
  }
  const maxPositionals = command.positionals?.length ?? 0;
  if (positionals.length > maxPositionals) {
    console.error(`runtime ${command.name}: unexpected argument ${positionals[maxPositionals]}\nusage: ${command.usage}`);
    return 2;
  }
  try {
    return await command.run(flags, positionals);
  } catch (err) {
    // Messages may quote foreign text (a zip entry name, a peer's field): no terminal control passes.
    const message = err instanceof BtcError || err instanceof Error ? err.message : String(err);
    console.error(plain(`runtime ${command.name}: ${message}`));
    return exitCodeOf(err);
  }
}

/**
 * For a command that parses its config and input once: zod's compiled fast path for objects (code
 * generated with `new Function` on each schema's first parse) costs more than it saves then, so zod
 * runs without it (`jitless`; the same results, checked the same way): ~8 ms of `handoff make`'s
 * start. Not for a server, nor a command that parses many rows (`dashboard export`, `state`). zod
 * is loaded by every command that reads a config anyway.
 */
async function parseWithoutJit(): Promise<void> {
  const { z } = await import('zod');
  z.config({ jitless: true });
}

function printHelp(commands: ReadonlyArray<CommandListing>): void {
  const width = Math.max(...commands.map((c) => c.name.length));
  console.log(`btc-ts runtime — market-data collection for two PCs and a NAS

usage: runtime <command> [options]     (runtime <command> --help for details)

commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

environment: BTC_TS_CONFIG, BTC_TS_HOST, BTC_TS_MODE, BTC_TS_DATA_DIR, BTC_TS_PORT, BTC_TS_S3_* …
(see docs/configuration.md). Exit codes: 0 ok, 1 a check or run failed, 2 bad usage or input.`);
}

function printCommandHelp(command: Command): void {
  console.log(`runtime ${command.name} — ${command.summary}\n\nusage: ${command.usage}`);
  if (command.inputHelp) console.log(`\n${command.inputHelp.title}\n${command.inputHelp.lines.join('\n')}`);
  const options = Object.entries(command.options ?? {}).filter(([name]) => !command.inputHelp?.flags.includes(name));
  if (options.length) {
    console.log('\noptions:');
    for (const [name, spec] of options) {
      const flag = `--${name}${spec.type === 'string' ? ' <value>' : ''}${spec.multiple ? ' …' : ''}`;
      console.log(`  ${flag.padEnd(28)} ${command.optionHelp?.[name] ?? ''}`.trimEnd());
    }
  }
}

/**
 * `runtime … | head -1`: the reader closes the pipe and the next write fails with EPIPE, which
 * Node raises as an unhandled 'error' with a stack trace. The reader has all it wanted, so stop
 * quietly with the command's exit code when it has one, else 0. Other stream errors stay loud.
 */
function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listeners('error').includes(onStreamError)) continue;
    stream.on('error', onStreamError);
  }
}

function onStreamError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  throw err;
}
