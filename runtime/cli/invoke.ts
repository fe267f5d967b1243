// runtime/cli/invoke.ts
// `runtime invoke <fn>`: runs one function once — through the running runtime when one answers, else in-process.

import { BtcError, exitCodeOfAnswer } from '../errors.ts';
import { configHelp, configOption, loadRuntime, runningRuntime } from './load.ts';
import type { Command } from './main.ts';
import { printJson } from './output.ts';
import { listed } from './summaries.ts';

export const invokeCommand: Command = {
  ...listed('invoke'),
  usage: 'runtime invoke <fn> [--input JSON] [--local] [--config FILE]',
  positionals: ['fn'],
  options: { ...configOption, input: { type: 'string' }, local: { type: 'boolean' } },
  optionHelp: {
    ...configHelp,
    input: 'the function input as JSON (default {})',
    local: 'run in this process even when a runtime is listening',
  },
  async run(flags, [name]) {
    if (!name) throw new BtcError('InvalidInput', 'name the function: runtime invoke <fn> (see GET /fn)');
    let input: unknown = {};
    if (typeof flags.input === 'string') {
      try {
        input = JSON.parse(flags.input);
      } catch {
        throw new BtcError('InvalidInput', '--input is not valid JSON');
      }
    }
    // One in-flight run per function: prefer the running runtime on this PC, which owns the schedule.
    if (!flags.local) {
      // null means "no runtime answered"; any number (0 included) is the remote run's exit code.
      const remote = await viaRunningRuntime(flags.config as string | undefined, name, input);
      if (remote !== null) return remote;
    }
    // Only the named duty is loaded (an unknown name fails here, as UnknownFunction, exit 2, as it would in the invoker).
    const runtime = await loadRuntime(flags, undefined, { runsOnly: name });
    try {
      const result = await runtime.invoker.invoke(name, input, 'cli');
      printJson(result);
      return 0;
    } catch (err) {
      if (err instanceof BtcError && err.code === 'InvalidInput') {
        printJson({ ok: false, error: 'invalid_input', issues: err.details });
        return 2;
      }
      throw err;
    } finally {
      await runtime.shutdown();
    }
  },
};

/** The exit code of the run on the runtime listening on this PC (0 ok, else exitCodeOfAnswer), or null when none answers. */
async function viaRunningRuntime(configFile: string | undefined, name: string, input: unknown): Promise<number | null> {
  const running = await runningRuntime(configFile);
  if (!running) return null;
  const res = await fetch(`${running.base}/fn/${encodeURIComponent(name)}`, { method: 'POST', headers: running.headers, body: JSON.stringify(input) });
  const body = (await res.json()) as { ok: boolean; result?: unknown };
  printJson(body.ok ? body.result : body);
  if (res.ok) return 0;
  // The code's own exit code (ERROR_CODES), as main() gives an in-process failure: NotFound is 1 both ways.
  return exitCodeOfAnswer(res.status, body);
}
