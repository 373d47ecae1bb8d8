/**
 * The known data set the browser tests open the dashboard on, streamed through
 * the real pipeline (etcd, streamer, collector, gateway processes): a
 * `gputel generate` fleet of 4 hosts × 8 GPUs over the last 50 minutes at 30 s,
 * seed 3, which holds exactly two idle GPUs. It ends at the wall clock, so the
 * dashboard's relative ranges (`now-1h`) and its "now" mode see all of it.
 * Samples are counted in and out: the suite starts only once the API serves
 * exactly the generated rows.
 */
import assert from 'node:assert/strict';
import { before } from 'node:test';
import { readOracle, type OracleRow } from './csv-oracle.js';
import { findFreePort, type EtcdProcess } from './etcd-process.js';
import { usePipelineHarness, type FleetOptions, type PipelineHarness } from './pipeline-harness.js';
import { waitFor } from './wait-for.js';

const INTERVAL_MS = 30_000;
const DURATION_MS = 50 * 60_000;
/** The generator's fleet: GPU series depend on the seed, not on the start time. */
const FLEET = { hosts: 4, gpusPerHost: 8, interval: '30s', seed: 3 } as const;
/** A GPU whose mean utilisation is below this is idle (the API's default idle_threshold). */
const IDLE_THRESHOLD = 5;

export interface DashboardFleet {
  readonly harness: PipelineHarness<EtcdProcess>;
  /** The open gateway (no API keys) the data set was checked through. */
  readonly baseUrl: string;
  /** The rows streamed so far (the known data set, then each streamLater()). */
  readonly rows: OracleRow[];
  /** GPUs of the data set, counted from its rows. */
  readonly gpuCount: number;
  /** Hosts of the data set, counted from its rows. */
  readonly hostCount: number;
  /** GPUs whose mean utilisation over the data set is below 5 %: the idle GPUs of the API's default summary. */
  readonly idleCount: number;
  /** Starts one more gateway on the same etcd with `args` added (e.g. `--api-keys …`), and returns its base URL once ready. */
  startGateway(args: string[]): Promise<string>;
  /**
   * Streams one more timestamp of the same fleet (the interval after the
   * last one streamed) through the pipeline, and resolves once the API
   * serves exactly every row streamed so far.
   */
  streamLater(): Promise<OracleRow[]>;
}

/** Polls `url` until it answers 200, at most 10 s. */
async function waitUntilReady(url: string): Promise<void> {
  await waitFor(`${url} answering 200`, 10_000, async () => ((await fetch(url).then((r) => r.status, () => 0)) === 200 ? true : undefined), 100);
}

/**
 * Registers before/after hooks in the enclosing `describe` that start the
 * pipeline and stream the known data set, and returns the handle they fill
 * in (read its fields inside `it`).
 */
export function useDashboardFleet(name: string): DashboardFleet {
  const harness = usePipelineHarness(name);
  const rows: OracleRow[] = [];
  let nextStartMs = 0;
  let streams = 0;

  async function stream(durationMs: number): Promise<OracleRow[]> {
    const fleet: FleetOptions = { ...FLEET, duration: `${durationMs / 1000}s`, start: new Date(nextStartMs).toISOString() };
    const file = await harness.generate(`fleet-${++streams}.csv`, fleet);
    const streamer = harness.startStreamer(file);
    assert.equal(await streamer.exited, 0, streamer.stderr());
    const streamed = readOracle(file);
    rows.push(...streamed);
    nextStartMs += durationMs;
    await harness.assertStoredExactlyOnce(rows);
    return streamed;
  }

  before(async () => {
    // Aligned to the interval, ending at the last whole interval before now.
    nextStartMs = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - DURATION_MS;
    await harness.startGateway();
    harness.startCollector();
    await waitUntilReady(`${harness.baseUrl}/readyz`);
    // Without the built page every browser test would wait out its view's timeout: fail once, saying why.
    const page = await fetch(`${harness.baseUrl}/`);
    if (page.status !== 200) {
      throw new Error(`the gateway answers ${page.status} at /: the dashboard is not built. Run \`npm run build\` (it builds dist/web/dashboard), then the browser tests again`);
    }
    await stream(DURATION_MS);
  });

  function utilizationMeans(): number[] {
    const byGpu = new Map<string, { sum: number; n: number }>();
    for (const row of rows) {
      if (row.metric !== 'DCGM_FI_DEV_GPU_UTIL') continue;
      const key = `${row.hostname}:${row.gpuId}`;
      const mean = byGpu.get(key) ?? { sum: 0, n: 0 };
      mean.sum += row.value;
      mean.n++;
      byGpu.set(key, mean);
    }
    return [...byGpu.values()].map((m) => m.sum / m.n);
  }

  return {
    harness,
    get baseUrl() {
      return harness.baseUrl;
    },
    rows,
    get gpuCount() {
      return new Set(rows.map((row) => row.uuid)).size;
    },
    get hostCount() {
      return new Set(rows.map((row) => row.hostname)).size;
    },
    get idleCount() {
      return utilizationMeans().filter((mean) => mean < IDLE_THRESHOLD).length;
    },
    async startGateway(args) {
      const port = await findFreePort();
      harness.run(['gateway', ...harness.common, '--port', String(port), ...args]);
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitUntilReady(`${baseUrl}/healthz`);
      return baseUrl;
    },
    streamLater() {
      return stream(INTERVAL_MS);
    },
  };
}
