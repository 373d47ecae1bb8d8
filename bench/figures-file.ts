/**
 * How a benchmark hands its figures to `npm run bench` (bench/run-all.ts):
 * with `--json FILE` on its command line it writes them there as JSON, once,
 * at its end. Each bench keeps printing its own lines for a person; the file
 * is the machine-readable copy of the same figures.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';

/** The FILE of `--json FILE`, or undefined when the flag is absent. Throws when FILE is missing. */
export function jsonPathArgument(argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf('--json');
  if (i < 0) return undefined;
  const path = argv[i + 1];
  if (path === undefined || path.startsWith('--')) throw new Error('--json needs a file name');
  return path;
}

/** Arguments before the first `--flag`: the positional ones of the benches that take them. */
export function positionalArguments(argv: readonly string[] = process.argv): string[] {
  const rest = argv.slice(2);
  const firstFlag = rest.findIndex((a) => a.startsWith('--'));
  return firstFlag < 0 ? rest : rest.slice(0, firstFlag);
}

/** Writes `figures` with the time and the machine's load to `path` (folders created). Does nothing when `path` is undefined. */
export function writeFigures(path: string | undefined, figures: object): void {
  if (path === undefined) return;
  mkdirSync(dirname(path), { recursive: true });
  const record = { measuredAt: new Date().toISOString(), machine: { cpus: cpus().length, loadAverage: loadavg() }, figures };
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
}
