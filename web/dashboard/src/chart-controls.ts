/**
 * The range and metric choices of the GPU and host views. Each choice is a
 * new URL (a link or a hash change), so the back button returns to the
 * previous range and a copied link shows the same charts.
 */
import { el } from './dom.js';
import { METRICS, type MetricInfo } from './metrics.js';
import { markLoading, navigateTo } from './view.js';
import { localDateTime, zoneOf } from './format.js';
import { parseTypedTime, PRESETS, rangeQuery, type TimeRange } from './time-range.js';

/** `basePath` is the view's hash path, e.g. `#/gpus/node-1%3A0`. */
export function chartControls(basePath: string, range: TimeRange, metrics: readonly MetricInfo[], windowMs: { startMs: number; endMs: number }): HTMLElement {
  const metricsParam = metrics.map((metric) => metric.name).join(',');
  const href = (query: Record<string, string>): string => `${basePath}?${new URLSearchParams({ ...query, metrics: metricsParam }).toString()}`;
  const presets = PRESETS.map(([name, label]) => {
    const link = el('a', { href: href({ range: name }), class: range.mode === 'now' && range.preset === name ? 'chip chosen' : 'chip', 'aria-current': range.mode === 'now' && range.preset === name ? 'true' : undefined }, label);
    // The view is rebuilt on the hash change that follows: not ready from the click on, not from then.
    link.addEventListener('click', () => {
      if (link.hash !== location.hash) markLoading(link);
    });
    return link;
  });
  // Text fields, not datetime-local: the browser would show its locale's format (12-hour in en-US), not the page's one.
  const field = (name: string, ms: number): HTMLInputElement =>
    el('input', { type: 'text', name, 'aria-label': `${name} (YYYY-MM-DD HH:MM:SS, ${zoneOf(ms)})`, placeholder: 'YYYY-MM-DD HH:MM:SS', size: '19', spellcheck: 'false', value: localDateTime(ms) });
  const from = field('from', windowMs.startMs);
  const to = field('to', windowMs.endMs);
  const zone = el('span', { class: 'muted small', 'data-testid': 'range-zone' }, zoneOf(windowMs.endMs));
  const custom = el('form', { class: range.mode === 'custom' ? 'custom chosen' : 'custom' }, from, '–', to, zone, el('button', { type: 'submit' }, 'Show'));
  custom.addEventListener('submit', (event) => {
    event.preventDefault();
    const start = parseTypedTime(from.value);
    const end = parseTypedTime(to.value);
    const problem = Number.isNaN(start) ? [from, 'a time such as 2026-12-01 06:30:00'] : Number.isNaN(end) ? [to, 'a time such as 2026-12-01 07:30:00'] : start >= end ? [to, 'the end must be after the start'] : undefined;
    if (problem !== undefined) {
      const [input, message] = problem as [HTMLInputElement, string];
      input.setCustomValidity(message);
      input.reportValidity();
      return;
    }
    navigateTo(custom, href(rangeQuery({ mode: 'custom', startMs: start, endMs: end })).slice(1));
  });
  for (const input of [from, to]) input.addEventListener('input', () => input.setCustomValidity(''));
  const chosen = new Set(metrics.map((metric) => metric.name));
  const boxes = METRICS.map((metric) => {
    const box = el('input', { type: 'checkbox', name: metric.name });
    box.checked = chosen.has(metric.name);
    box.addEventListener('change', () => {
      const names = METRICS.filter((m) => (m.name === metric.name ? box.checked : chosen.has(m.name))).map((m) => m.name);
      if (names.length === 0) {
        box.checked = true;
        return;
      }
      navigateTo(box, `${basePath}?${new URLSearchParams({ ...rangeQuery(range), metrics: names.join(',') }).toString()}`.slice(1));
    });
    return el('label', { class: 'metric-choice' }, box, ` ${metric.label}`);
  });
  return el('div', { class: 'chart-controls' }, el('div', { class: 'ranges' }, el('span', { class: 'muted' }, range.mode === 'now' ? 'Last ' : 'Range '), ...presets, custom), el('div', { class: 'metric-choices' }, ...boxes));
}

