/**
 * The progress of `gputel streamer --file …` and `gputel start --file …`:
 * one task per file, fed by its Streamer's counters (bytes of the file for
 * the percentage and ETA, rows for the rate).
 */
import { stat } from 'node:fs/promises';
import type { Streamer } from '../streamer/streamer.js';
import type { ProgressTask } from './progress-reporter.js';
import type { CommandSources, FileSourceSpec } from './source-options.js';

/**
 * Tasks for the file sources of a command, in the order they are streamed
 * (buildSources puts the files first, in `specs` order). None when the
 * sources run concurrently: a followed file, a looped replay or a live
 * source never ends, so there is no percentage to show. stdin has no size:
 * rows and rows/s only.
 */
export async function streamProgressTasks(specs: FileSourceSpec[], built: CommandSources, streamers: Streamer[]): Promise<ProgressTask[]> {
  if (built.concurrent) return [];
  return Promise.all(
    specs.map(async (spec, index): Promise<ProgressTask> => {
      // Its size when streaming starts: a file that grows meanwhile ends past 100%, which is capped.
      const total = spec.path === '-' ? undefined : await stat(spec.path).then((stats) => stats.size, () => undefined);
      const streamer = streamers[index];
      return {
        label: spec.path === '-' ? 'stdin' : spec.path,
        unit: 'rows',
        snapshot: () => {
          const progress = streamer.progress();
          return progress && { count: progress.rowsRead, done: progress.byteOffset, startDone: progress.resumedFromByte, total, startedAtMs: progress.startedAtMs };
        },
      };
    }),
  );
}
