/**
 * The command line of a long-running bench (the soak, the live-stream bench):
 * `--help` lists the options with what each does and its default, and an
 * unknown option, a missing value or a bad one stops it with one line and
 * exit 2 before anything starts, rather than a run of minutes with the
 * defaults (node:util parseArgs, strict).
 */
import { parseArgs } from 'node:util';

export interface BenchOption {
  /** A switch (no value) or an option with a value. */
  type: 'boolean' | 'string';
  /** What it does, and its default, for --help. */
  help: string;
}

/** The values given, by option name: a switch's as a boolean, any other's as its text; absent ones undefined. */
export type BenchValues<T extends Record<string, BenchOption>> = { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };

/** Prints `command: message (--help)` and exits 2: for a value an option cannot take. */
export function usageError(command: string, message: string): never {
  console.error(`${command}: ${message} (--help)`);
  process.exit(2);
}

/** The options given, by name (absent ones undefined); exits 0 after --help, 2 on a usage error. */
export function benchOptions<T extends Record<string, BenchOption>>(command: string, usage: string, options: T): BenchValues<T> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    const width = Math.max(...Object.entries(options).map(([name, option]) => name.length + (option.type === 'string' ? 4 : 0)));
    console.log(`usage: ${usage}\n`);
    for (const [name, option] of Object.entries(options)) console.log(`  --${`${name}${option.type === 'string' ? ' <v>' : ''}`.padEnd(width + 2)}  ${option.help}`);
    process.exit(0);
  }
  try {
    const { values } = parseArgs({ options: Object.fromEntries(Object.entries(options).map(([name, option]) => [name, { type: option.type }])), strict: true, allowPositionals: false });
    return values as BenchValues<T>;
  } catch (error) {
    return usageError(command, (error as Error).message);
  }
}
