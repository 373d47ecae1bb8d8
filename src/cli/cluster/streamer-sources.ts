/**
 * What each streamer of `gputel cluster up` streams: the DCGM CSV files
 * given, dealt out one by one over the streamers and followed (appended rows
 * flow on, as from a live exporter); or, given no file, one simulated fleet
 * split by hosts over the streamers, so the dashboard on the load balancer
 * shows a live fleet at once and every streamer carries a share of it.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { GputelError } from '../../common/gputel-error.js';

export interface StreamerSources {
  /** CSV files (absolute or relative to the working folder). */
  files: string[];
  /** The simulated fleet's hosts in all (default 4) and GPUs per host (default 8). */
  simulateHosts?: number;
  simulateGpusPerHost?: number;
  /** The simulated fleet's sampling interval and back-fill, as the streamer's flags take them (e.g. 10s, 1h). */
  interval?: string;
  simulateBackfill?: string;
}

const DEFAULT_SIMULATED_HOSTS = 4;

/**
 * The source flags of each of `streamers` streamers. Throws BAD_CONFIG when
 * a file is missing or a folder, when there are fewer files (or simulated
 * hosts) than streamers (a streamer without a source would have nothing to
 * do), or when simulator settings are given with files.
 */
export function streamerSourceArgs(sources: StreamerSources, streamers: number): string[][] {
  if (sources.files.length > 0) {
    if (sources.simulateHosts !== undefined || sources.simulateGpusPerHost !== undefined || sources.simulateBackfill !== undefined || sources.interval !== undefined) {
      throw new GputelError('BAD_CONFIG', '--simulate-hosts, --simulate-gpus-per-host, --simulate-backfill and --interval apply to the simulated fleet, which runs only when no --file is given');
    }
    if (sources.files.length < streamers) {
      throw new GputelError('BAD_CONFIG', `--file gives ${sources.files.length} file(s) for ${streamers} streamers: each streamer follows files of its own; pass --streamers ${sources.files.length} or more files`);
    }
    const files = sources.files.map((file) => {
      const absolute = path.resolve(file);
      let isFile = false;
      try {
        isFile = statSync(absolute).isFile();
      } catch {
        throw new GputelError('BAD_CONFIG', `--file ${file}: no such file`);
      }
      if (!isFile) throw new GputelError('BAD_CONFIG', `--file ${file}: not a regular file`);
      return absolute;
    });
    return Array.from({ length: streamers }, (_, i) => ['--follow', '--file', ...files.filter((_, index) => index % streamers === i)]);
  }
  const hosts = sources.simulateHosts ?? DEFAULT_SIMULATED_HOSTS;
  if (hosts < streamers) {
    throw new GputelError('BAD_CONFIG', `--simulate-hosts ${hosts} for ${streamers} streamers: each streamer simulates hosts of its own; pass --simulate-hosts ${streamers} or more`);
  }
  const shared = [
    ...(sources.simulateGpusPerHost === undefined ? [] : ['--simulate-gpus-per-host', String(sources.simulateGpusPerHost)]),
    ...(sources.interval === undefined ? [] : ['--interval', sources.interval]),
    ...(sources.simulateBackfill === undefined ? [] : ['--simulate-backfill', sources.simulateBackfill]),
  ];
  // Contiguous blocks of hosts, the first streamers taking one more when they do not divide evenly.
  let firstHost = 1;
  return Array.from({ length: streamers }, (_, i) => {
    const count = Math.floor(hosts / streamers) + (i < hosts % streamers ? 1 : 0);
    const args = ['--simulate', '--simulate-first-host', String(firstHost), '--simulate-hosts', String(count), ...shared];
    firstHost += count;
    return args;
  });
}
