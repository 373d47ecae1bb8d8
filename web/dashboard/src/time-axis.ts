/**
 * The charts' time axis labels, in the page's time format: 24-hour, in the
 * browser's zone, from the same localDateTime and zoneOf as every other time
 * on the page (uPlot's own labels are 12-hour, `12:30am`). Ticks read
 * `14:05` (`14:05:30` when they are seconds apart, `2026-12-01` when days
 * apart); the first tick, and the first of each new day, add a second line
 * with the date and the zone (`2026-12-01 +05:30`), as uPlot adds its date.
 * uPlot places the ticks with its default tzDate, the browser's zone too, so
 * an hour tick falls on a whole hour of the times written here.
 */
import { localDateTime, zoneOf } from './format.js';

const MINUTE_S = 60;
const DAY_S = 86_400;

/** Labels for ticks at `splitsS` (epoch seconds, ascending) `incrS` seconds apart; an axis's `values` for a time scale in seconds. */
export function timeAxisLabels(splitsS: readonly number[], incrS: number): string[] {
  let previousDateLine: string | undefined;
  return splitsS.map((splitS) => {
    const ms = splitS * 1000;
    const [date, time] = localDateTime(ms).split(' ');
    const tick = incrS >= DAY_S ? date : incrS >= MINUTE_S ? time.slice(0, 5) : time;
    const dateLine = incrS >= DAY_S ? zoneOf(ms) : `${date} ${zoneOf(ms)}`;
    const label = dateLine === previousDateLine ? tick : `${tick}\n${dateLine}`;
    previousDateLine = dateLine;
    return label;
  });
}
