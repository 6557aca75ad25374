// Thin wrapper over node:util parseArgs: every parse problem becomes a one-line UsageError
// (exit 2), and `--help` is handled the same way by every command.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<V> {
  values: V;
  positionals: string[];
  help: boolean;
}

export function parseCommandArgs<V = Record<string, string | boolean | string[] | undefined>>(
  command: string,
  args: string[],
  options: OptionSpec,
  allowPositionals = false,
): Parsed<V> {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    const { help, ...rest } = values as Record<string, unknown>;
    return { values: rest as V, positionals, help: help === true };
  } catch (err) {
    // parseArgs messages are long and mention internals; keep the first sentence and name the command.
    const msg = err instanceof Error ? err.message.split('\n')[0]!.replace(/\. To specify a positional.*$/, '') : String(err);
    throw new UsageError(`${command}: ${msg} (see 'davtap ${command === 'davtap' ? '' : command + ' '}--help')`);
  }
}

/** Parses a byte size such as 64MiB, 1m, 512k, 1000 (bytes). */
export function parseSize(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: '${text}' is not a size (examples: 1048576, 512KiB, 64MiB, 1GiB)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Math.floor(Number(m[1]) * mult);
}
