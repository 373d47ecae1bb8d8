/**
 * The charts of one GPU (one per chosen metric, their crosshairs synced with
 * the other charts of the view): read as columns (`format=columns`),
 * downsampled on the server with `max_points` near the chart's pixel width,
 * then, in "now" mode, extended by live records.
 */
import { getJson, segment } from './api-client.js';
import type { ColumnsPage, TelemetryRecord } from './api-types.js';
import { el } from './dom.js';
import { valueOf, type MetricInfo } from './metrics.js';
import { TelemetryChart } from './telemetry-chart.js';
import type { TimeRange } from './time-range.js';

/** Pages to follow at most: with max_points near a chart's width one page holds the whole range. */
const MAX_PAGES = 20;

export class GpuCharts {
  readonly element = el('div', { class: 'charts' });
  private readonly charts: TelemetryChart[];
  /** The newest timestamp load() read (epoch ms); -Infinity before, or when it read none. */
  loadedUntilMs = -Infinity;

  constructor(
    private readonly gpuId: string,
    metrics: readonly MetricInfo[],
    width: number,
    syncKey: string,
    private readonly range: TimeRange,
  ) {
    this.charts = metrics.map((metric) => new TelemetryChart(metric, width, syncKey, gpuId));
    for (const chart of this.charts) this.element.append(el('h3', {}, chart.metric.label), chart.element);
  }

  /** Reads [startMs, endMs] and draws it. */
  async load(startMs: number, endMs: number, signal: AbortSignal): Promise<void> {
    if (this.charts.length === 0) return;
    const maxPoints = this.charts[0].plotWidth;
    const params = new URLSearchParams({
      format: 'columns',
      start_time: new Date(startMs).toISOString(),
      end_time: new Date(endMs).toISOString(),
      max_points: String(maxPoints),
      metrics: this.charts.map((chart) => chart.metric.dcgm).join(','),
      limit: '100000',
    });
    const timestamps: number[] = [];
    const columns = new Map<string, (number | null)[]>(this.charts.map((chart) => [chart.metric.dcgm, []]));
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      if (cursor !== null) params.set('cursor', cursor);
      const answer: ColumnsPage = await getJson<ColumnsPage>(`/api/v1/gpus/${segment(this.gpuId)}/telemetry?${params.toString()}`, signal);
      timestamps.push(...answer.data.timestamps);
      // A metric with no value in a page is left out of it: its column is all gaps there.
      for (const [name, column] of columns) column.push(...(answer.data.metrics[name] ?? answer.data.timestamps.map(() => null)));
      cursor = answer.next_cursor;
      if (cursor === null) break;
    }
    for (const chart of this.charts) chart.setData(timestamps, columns.get(chart.metric.dcgm) ?? [], startMs, endMs);
    this.loadedUntilMs = timestamps.length === 0 ? -Infinity : timestamps[timestamps.length - 1];
  }

  /**
   * A live record held while load() ran: appended unless the history read
   * already holds its time (a record of the newest time read fills in what
   * that point lacks, never adds a second point).
   */
  appendHeld(record: TelemetryRecord): void {
    if (Date.parse(record.timestamp) >= this.loadedUntilMs) this.append(record);
  }

  /** A live record of this GPU ("now" mode only: a custom range stays as read). */
  append(record: TelemetryRecord): void {
    if (this.range.mode !== 'now') return;
    const ms = Date.parse(record.timestamp);
    for (const chart of this.charts) chart.append(ms, valueOf(record, chart.metric), this.range.spanMs);
  }

  resize(width: number): void {
    for (const chart of this.charts) chart.resize(width);
  }

  destroy(): void {
    for (const chart of this.charts) chart.destroy();
  }
}
