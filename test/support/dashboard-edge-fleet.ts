/**
 * A second, small data set for the dashboard's browser tests: the cases the
 * generated fleet has none of, written as DCGM CSV and streamed through the
 * real pipeline (etcd, streamer, collector, gateway processes).
 *
 * - `dip`: utilisation 0 % for 25 h, except 100 % from 3 h to 2 h before the
 *   end. Its mean is under 5 % over 15 min, 1 h, 24 h and 7 d, but not over
 *   6 h: it has been idle for 1 h, not 24 h.
 * - `html`: a hostname, model and pod that are HTML markup.
 * - `mig`: one GPU's two MIG instances (one UUID, two series).
 * - `shared`: one UUID reported under two hostnames (two series).
 *
 * Each series but `dip` has only the last hour, at the same 10 min interval.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before } from 'node:test';
import { CSV_HEADER } from './csv-lines.js';
import { waitForSamples } from './api-checks.js';
import { usePipelineHarness, type PipelineHarness } from './pipeline-harness.js';
import type { EtcdProcess } from './etcd-process.js';

const INTERVAL_MS = 10 * 60_000;
const DIP_SPAN_MS = 25 * 3_600_000;
const RECENT_SPAN_MS = 3_600_000;

/** One series of the data set. */
export interface EdgeSeries {
  hostname: string;
  uuid: string;
  model: string;
  pod: string;
  mig: { id: string; profile: string } | null;
  /** Utilisation at `ms`, `endMs` being the last timestamp. */
  utilization(ms: number, endMs: number): number;
  spanMs: number;
}

export const HTML_HOSTNAME = '<img src=x onerror=window.gputelXss=1>';
export const HTML_MODEL = '<b class=xss-model>bold model</b>';
export const HTML_POD = '<script>window.gputelXss=2</script>';

export const EDGE_SERIES: Record<'dip' | 'html' | 'mig1' | 'mig2' | 'sharedA' | 'sharedB', EdgeSeries> = {
  dip: {
    hostname: 'quiet-host',
    uuid: 'GPU-dip-0000',
    model: 'NVIDIA H100',
    pod: '',
    mig: null,
    utilization: (ms, endMs) => (ms > endMs - 3 * 3_600_000 && ms <= endMs - 2 * 3_600_000 ? 100 : 0),
    spanMs: DIP_SPAN_MS,
  },
  html: { hostname: HTML_HOSTNAME, uuid: 'GPU-html-0000', model: HTML_MODEL, pod: HTML_POD, mig: null, utilization: () => 50, spanMs: RECENT_SPAN_MS },
  mig1: { hostname: 'mig-host', uuid: 'GPU-mig-0000', model: 'NVIDIA A100', pod: '', mig: { id: '1', profile: '1g.10gb' }, utilization: () => 30, spanMs: RECENT_SPAN_MS },
  mig2: { hostname: 'mig-host', uuid: 'GPU-mig-0000', model: 'NVIDIA A100', pod: '', mig: { id: '2', profile: '1g.10gb' }, utilization: () => 70, spanMs: RECENT_SPAN_MS },
  sharedA: { hostname: 'host-a', uuid: 'GPU-shared-0000', model: 'NVIDIA L4', pod: '', mig: null, utilization: () => 20, spanMs: RECENT_SPAN_MS },
  sharedB: { hostname: 'host-b', uuid: 'GPU-shared-0000', model: 'NVIDIA L4', pod: '', mig: null, utilization: () => 80, spanMs: RECENT_SPAN_MS },
};

/** A CSV field, quoted (inner quotes doubled). */
function field(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}

function csvOf(endMs: number): { text: string; rows: number } {
  let text = CSV_HEADER + '\n';
  let rows = 0;
  for (const series of Object.values(EDGE_SERIES)) {
    const labels = series.mig === null ? 'gpu="0"' : `gpu="0",GPU_I_ID="${series.mig.id}",GPU_I_PROFILE="${series.mig.profile}"`;
    for (let ms = endMs - series.spanMs; ms <= endMs; ms += INTERVAL_MS) {
      const namespace = series.pod === '' ? '' : 'ml';
      text += [new Date(ms).toISOString(), 'DCGM_FI_DEV_GPU_UTIL', '0', 'nvidia0', series.uuid, series.model, series.hostname, '', series.pod, namespace, String(series.utilization(ms, endMs)), labels].map(field).join(',') + '\n';
      rows++;
    }
  }
  return { text, rows };
}

export interface EdgeFleet {
  readonly harness: PipelineHarness<EtcdProcess>;
  readonly baseUrl: string;
  /** Timestamps per recent series (the last hour, both ends in). */
  readonly recentPoints: number;
}

/** Registers hooks in the enclosing `describe` that start the pipeline and stream the data set (its last sample at the last whole 10 min). */
export function useEdgeFleet(name: string): EdgeFleet {
  const harness = usePipelineHarness(name);
  before(async () => {
    const endMs = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS;
    await harness.startGateway();
    harness.startCollector();
    const { text, rows } = csvOf(endMs);
    const file = join(harness.dir, 'edge.csv');
    writeFileSync(file, text);
    const streamer = harness.startStreamer(file);
    const code = await streamer.exited;
    if (code !== 0) throw new Error(`the streamer exited ${code}: ${streamer.stderr()}`);
    await waitForSamples(harness.baseUrl, rows);
  });
  return {
    harness,
    get baseUrl() {
      return harness.baseUrl;
    },
    recentPoints: RECENT_SPAN_MS / INTERVAL_MS + 1,
  };
}
