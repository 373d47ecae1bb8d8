/**
 * A live fleet whose hosts sample on their own clocks, for the pipeline
 * latency benchmark. Real hosts are not synchronised: each dcgm-exporter or
 * nvidia-smi loop samples at its own phase of the interval. The simulator
 * ticks every GPU of the fleet at the same instant, which is the worst case
 * (a burst of the whole fleet at once; `ws-stream --pipeline --burst`
 * measures that). This source takes the simulator's ticks and releases host
 * h's rows at `tick + h × interval / hosts`, each row stamped with the wall
 * clock of its release, so that "row entered the streamer" stays the row's
 * timestamp. Not resumable: it is a benchmark's load, not a source to keep.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DcgmRow } from '../src/ingest/dcgm-row.js';
import { SimulatorSource, type SimulatorSourceOptions } from '../src/ingest/simulator-source.js';
import type { RowSink, Source, SourcePosition } from '../src/ingest/source.js';

export class SpreadHostsSource implements Source {
  readonly id: string;
  readonly location: string;
  readonly resumable = false;
  private readonly simulator: SimulatorSource;
  private readonly intervalMs: number;

  constructor(private readonly options: SimulatorSourceOptions & { hosts: number; intervalMs: number }) {
    this.simulator = new SimulatorSource({ ...options, backfillMs: 0 });
    this.intervalMs = options.intervalMs;
    this.id = `${this.simulator.id}-spread`;
    this.location = `${this.simulator.location}, hosts spread over the interval`;
  }

  async *read(_from: SourcePosition, sink: RowSink, signal: AbortSignal): AsyncIterable<SourcePosition> {
    const rowsByHost = new Map<string, DcgmRow[]>();
    const collect: RowSink = {
      row: (row) => {
        let rows = rowsByHost.get(row.hostname);
        if (!rows) rowsByHost.set(row.hostname, (rows = []));
        rows.push({ ...row });
      },
      reject: (rejected) => sink.reject(rejected),
    };
    const spacingMs = this.intervalMs / this.options.hosts;
    let releases = 0;
    for await (const _tick of this.simulator.read(null, collect, signal)) {
      const tickStartMs = Date.now();
      let h = 0;
      for (const rows of rowsByHost.values()) {
        const waitMs = tickStartMs + h++ * spacingMs - Date.now();
        if (waitMs > 0) await sleep(waitMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        const nowMs = Date.now();
        for (const row of rows) {
          row.timestampMs = nowMs;
          sink.row(row);
        }
        yield { releases: ++releases };
      }
      rowsByHost.clear();
    }
  }
}
