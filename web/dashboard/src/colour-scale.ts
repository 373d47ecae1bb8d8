/**
 * The tiles' colour scale: a value between a metric's low and high mapped
 * onto a sequential palette (dark blue, teal, green, yellow, orange, red)
 * that stays readable for the common colour-vision deficiencies, with dark
 * text on the light end.
 */
import type { MetricInfo } from './metrics.js';

const STOPS: readonly [number, number, number][] = [
  [49, 54, 149],
  [44, 127, 184],
  [65, 182, 130],
  [217, 217, 60],
  [244, 140, 50],
  [215, 48, 39],
];

/** The tile background of a value; grey when there is no value. */
export function colourOf(value: number | null, metric: MetricInfo): string {
  if (value === null) return '#c9ced6';
  const t = Math.min(1, Math.max(0, (value - metric.low) / (metric.high - metric.low)));
  const at = t * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(at));
  const f = at - i;
  const [r, g, b] = STOPS[i].map((c, k) => Math.round(c + (STOPS[i + 1][k] - c) * f));
  return `rgb(${r},${g},${b})`;
}

/** Whether text on this value's colour should be dark (the yellow-green middle of the scale). */
export function needsDarkText(value: number | null, metric: MetricInfo): boolean {
  if (value === null) return true;
  const t = (value - metric.low) / (metric.high - metric.low);
  return t > 0.4 && t < 0.8;
}

/** The scale as a CSS gradient, for the legend. */
export function legendGradient(): string {
  return `linear-gradient(to right, ${STOPS.map(([r, g, b]) => `rgb(${r},${g},${b})`).join(', ')})`;
}
