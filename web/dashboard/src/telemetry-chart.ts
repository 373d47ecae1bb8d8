/**
 * One metric of one GPU over time: a uPlot chart (canvas; crosshair and
 * legend with the values under the cursor). Missing samples are gaps, never
 * lines: nulls break the line (spanGaps off), and so does a jump between two
 * timestamps much wider than the series' usual spacing (a downsampled page
 * has no bucket at all where there was no sample). The wrapper carries
 * `data-testid="gpu-chart"` and `data-points`, the timestamps plotted (in
 * "now" mode, those of the sliding window plus one before its start).
 */
import uPlot from 'uplot';
import { el } from './dom.js';
import { formatClock, formatValue } from './format.js';
import type { MetricInfo } from './metrics.js';
import { timeAxisLabels } from './time-axis.js';

const HEIGHT = 170;
/** Tick steps of a value axis in the unit shown: 1, 2, 5, 10, 20, 25, 50, … */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1_000, 2_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000];
/** Memory is charted in MiB but shown in GiB with one decimal: steps of tenths of a GiB and up. */
const GIB_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500].map((gib) => gib * 1024);
/** A step more than this many times the median spacing is a gap. */
const GAP_FACTOR = 2.5;
/** Past this many points a live chart drops its oldest, whatever its window. */
const MAX_POINTS = 20_000;

export class TelemetryChart {
  readonly element: HTMLElement;
  private readonly times: number[] = [];
  private readonly values: (number | null)[] = [];
  private plot: uPlot | undefined;
  private startS = 0;
  private endS = 0;
  private gapS = Infinity;

  constructor(
    readonly metric: MetricInfo,
    private width: number,
    private readonly syncKey: string,
    gpuId: string,
  ) {
    this.element = el('div', { class: 'chart', 'data-testid': 'gpu-chart', 'data-metric': metric.name, 'data-id': gpuId, 'data-points': '0' });
  }

  /** The plot's width in pixels, less its axis: what `max_points` should be near. */
  get plotWidth(): number {
    return Math.max(50, Math.round(this.width - 90));
  }

  /** Draws these points (epoch ms, ascending) over the window [startMs, endMs]. */
  setData(timestampsMs: number[], values: (number | null)[], startMs: number, endMs: number): void {
    this.times.splice(0, this.times.length, ...timestampsMs.map((ms) => ms / 1000));
    this.values.splice(0, this.values.length, ...values);
    this.startS = startMs / 1000;
    this.endS = endMs / 1000;
    this.gapS = gapThreshold(this.times);
    this.plot?.destroy();
    this.plot = new uPlot(this.options(), [this.times, this.values], this.element);
    this.element.dataset.points = String(this.times.length);
  }

  /**
   * A live sample: a newer timestamp is appended and the window slides to
   * it; the same timestamp fills in the newest point (a record a batch
   * boundary split in two); an older one is already drawn or too old.
   */
  append(timestampMs: number, value: number | null, spanMs: number): void {
    const t = timestampMs / 1000;
    const last = this.times.length - 1;
    if (last >= 0 && t < this.times[last]) return;
    if (last >= 0 && t === this.times[last]) {
      if (value === null) return;
      this.values[last] = value;
    } else {
      this.times.push(t);
      this.values.push(value);
      this.endS = Math.max(this.endS, t);
      this.startS = this.endS - spanMs / 1000;
      this.dropBefore(this.startS);
      if (this.gapS === Infinity) this.gapS = gapThreshold(this.times);
    }
    this.plot?.setData([this.times, this.values]);
    this.element.dataset.points = String(this.times.length);
  }

  /**
   * Drops the points that left the window, but the last one before its
   * start (the line enters the plot from it rather than starting inside),
   * and the oldest past MAX_POINTS (a tab left open for days stays bounded).
   */
  private dropBefore(startS: number): void {
    let firstInside = 0;
    while (firstInside < this.times.length && this.times[firstInside] < startS) firstInside++;
    const drop = Math.max(firstInside - 1, this.times.length - MAX_POINTS, 0);
    if (drop === 0) return;
    this.times.splice(0, drop);
    this.values.splice(0, drop);
  }

  resize(width: number): void {
    this.width = width;
    this.plot?.setSize({ width, height: HEIGHT });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }

  private options(): uPlot.Options {
    const metric = this.metric;
    return {
      width: this.width,
      height: HEIGHT,
      cursor: { sync: { key: this.syncKey }, drag: { x: false, y: false } },
      scales: { x: { time: true, range: () => [this.startS, this.endS] } },
      legend: { live: true },
      series: [
        { value: (_plot, seconds) => (seconds === null ? '–' : formatClock(seconds * 1000)) },
        {
          label: `${metric.label} (${metric.unit === 'MiB' ? 'GiB' : metric.unit})`,
          stroke: '#2c7fb8',
          fill: 'rgba(44,127,184,0.08)',
          width: 1.5,
          spanGaps: false,
          gaps: (plot, _series, idx0, idx1, nullGaps) => this.refineGaps(plot, idx0, idx1, nullGaps),
          value: (_plot, value) => formatValue(value, metric),
          // A point on its own (between two gaps) has no line: show the points when they are few per pixel.
          points: { show: (plot, _series, idx0, idx1) => idx1 - idx0 < plot.bbox.width / 8 / devicePixelRatio },
        },
      ],
      // Ticks only where the unit's format can tell them apart: whole units (or tenths of a GiB), never 0.5 % shown as "1%".
      axes: [{ values: (_plot, splits, _axis, _space, incr) => timeAxisLabels(splits, incr) }, { size: 80, incrs: valueIncrements(metric), values: (_plot, splits) => splits.map((value) => formatValue(value, metric)) }],
    };
  }

  /** uPlot's gaps (from nulls) plus one wherever two neighbours are farther apart than the gap threshold, in canvas pixels. */
  private refineGaps(plot: uPlot, idx0: number, idx1: number, nullGaps: uPlot.Series.Gaps): uPlot.Series.Gaps {
    const gaps = [...nullGaps];
    for (let i = idx0; i < idx1; i++) {
      if (this.times[i + 1] - this.times[i] > this.gapS) {
        gaps.push([Math.round(plot.valToPos(this.times[i], 'x', true)), Math.round(plot.valToPos(this.times[i + 1], 'x', true))]);
      }
    }
    if (gaps.length === nullGaps.length) return nullGaps;
    gaps.sort((a, b) => a[0] - b[0]);
    const merged: uPlot.Series.Gaps = [];
    for (const gap of gaps) {
      const previous = merged[merged.length - 1];
      if (previous !== undefined && gap[0] <= previous[1]) previous[1] = Math.max(previous[1], gap[1]);
      else merged.push([gap[0], gap[1]]);
    }
    return merged;
  }
}

/** GAP_FACTOR times the median spacing of these times; Infinity with too few to tell. */
function gapThreshold(times: number[]): number {
  if (times.length < 3) return Infinity;
  const steps: number[] = [];
  for (let i = 1; i < times.length; i++) steps.push(times[i] - times[i - 1]);
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)] * GAP_FACTOR;
}

/** The value axis's tick steps for `metric`, in its charted unit (formatValue shows each distinctly). */
function valueIncrements(metric: MetricInfo): number[] {
  return metric.unit === 'MiB' ? GIB_STEPS : WHOLE_STEPS;
}
