/** `gputel generate`: writes a realistic DCGM long-format CSV, or the same fleet as OpenMetrics text. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command } from 'commander';
import { GputelError } from '../common/gputel-error.js';
import { generateDcgmCsv, generateDcgmOpenMetrics } from '../ingest/dcgm-generator.js';
import { parseTimeParam } from '../gateway/time-param.js';
import { parseDuration } from './duration.js';

function positiveInteger(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new GputelError('BAD_CONFIG', `${name} "${text}" must be a whole number of at least 1`);
  return value;
}

/** What `gputel generate` writes: DCGM long-format CSV, or OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`. */
export type GeneratedFormat = 'csv' | 'openmetrics';

const GENERATED_FORMATS: readonly GeneratedFormat[] = ['csv', 'openmetrics'];

/**
 * Writes a generated file; resolves with the number of rows (header
 * excluded), which is the number of samples in either format. Throws
 * GputelError 'BAD_CONFIG' when the path cannot be written.
 */
export async function writeGeneratedFile(
  path: string,
  options: { hosts: number; gpusPerHost: number; durationMs: number; intervalMs: number; seed: number; startMs: number },
  format: GeneratedFormat = 'csv',
): Promise<number> {
  const out = createWriteStream(path);
  // A path that cannot be written is the user's to fix: say so once, without a stack.
  try {
    await once(out, 'open'); // rejects with the stream's error when it cannot open
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const reason = code === 'ENOENT' ? 'its folder does not exist' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : message;
    throw new GputelError('BAD_CONFIG', `cannot write ${path}: ${reason}`);
  }
  const generate = format === 'openmetrics' ? generateDcgmOpenMetrics : generateDcgmCsv;
  const { rows } = await generate(options, async (chunk) => {
    if (!out.write(chunk)) await once(out, 'drain');
  });
  out.end();
  await once(out, 'finish');
  return rows;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('write a realistic DCGM long-format CSV, or the same fleet as OpenMetrics (deterministic with --seed)')
    .requiredOption('--out <file>', 'file to write')
    .option('--format <format>', 'csv, or openmetrics for promtool tsdb create-blocks-from openmetrics (default csv)')
    .option('--hosts <n>', 'hosts (default 4)')
    .option('--gpus-per-host <n>', 'GPUs per host (default 8)')
    .option('--duration <d>', 'time covered, e.g. 90m (default 1h)')
    .option('--interval <d>', 'sampling interval (default 10s)')
    .option('--seed <n>', 'random seed (default 1)')
    .option('--start <time>', 'first timestamp: RFC 3339, epoch ms or now-1h style (default: now minus duration)')
    .action(async (given: Record<string, string>) => {
      const options: Record<string, string> = { hosts: '4', gpusPerHost: '8', duration: '1h', interval: '10s', seed: '1', format: 'csv', ...given };
      const format = options.format as GeneratedFormat;
      if (!GENERATED_FORMATS.includes(format)) throw new GputelError('BAD_CONFIG', `--format "${options.format}" must be one of ${GENERATED_FORMATS.join(', ')}`);
      const durationMs = parseDuration(options.duration, '--duration');
      const startedAt = performance.now();
      const rows = await writeGeneratedFile(options.out, {
        hosts: positiveInteger(options.hosts, '--hosts'),
        gpusPerHost: positiveInteger(options.gpusPerHost, '--gpus-per-host'),
        durationMs,
        intervalMs: parseDuration(options.interval, '--interval'),
        seed: positiveInteger(options.seed, '--seed'),
        startMs: options.start ? parseTimeParam(options.start, '--start') : Math.floor((Date.now() - durationMs) / 1000) * 1000,
      }, format);
      const seconds = (performance.now() - startedAt) / 1000;
      process.stdout.write(`${options.out}: ${rows} ${format === 'csv' ? 'rows' : 'samples'} in ${seconds.toFixed(2)} s\n`);
    });
}
