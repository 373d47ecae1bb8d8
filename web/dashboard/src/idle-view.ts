/**
 * The idle report (`#/idle`): the GPUs whose mean utilisation over a window
 * is below a threshold, and for how long: the standard windows (15 min …
 * 7 d) walked from the shortest up, up to the last one before the first
 * whose mean is not below it (means over windows are not monotonic: a busy
 * hour 3 h ago can vanish in a 24 h mean), cut to the time since its first
 * sample (a GPU seen for an hour has not been idle for 7 days). Sortable by
 * any column. Requests:
 * `/api/v1/summary?window=W&idle_threshold=T` for each standard window (each
 * answers from memory, reading no telemetry) and `/api/v1/gpus` (first seen).
 */
import { getJson } from './api-client.js';
import type { Gpu, ListAnswer, Summary } from './api-types.js';
import { el, select } from './dom.js';
import { formatClock, formatDuration } from './format.js';
import { gpuHref, hostHref, replaceQuery } from './router.js';
import { markReady, navigateTo, type View } from './view.js';

const WINDOWS = [
  ['15m', 15 * 60_000],
  ['1h', 3_600_000],
  ['6h', 6 * 3_600_000],
  ['24h', 24 * 3_600_000],
  ['7d', 7 * 86_400_000],
] as const;

interface IdleRow {
  id: string;
  hostname: string;
  gpu: string;
  meanUtilization: number;
  /** The longest standard window such that it and every shorter one have a mean below the threshold; 0 when not even 15 min. */
  idleForMs: number;
}

type Column = 'gpu' | 'hostname' | 'meanUtilization' | 'idleForMs';
const COLUMNS: readonly [Column, string][] = [
  ['gpu', 'GPU'],
  ['hostname', 'host'],
  ['idleForMs', 'idle for at least'],
  ['meanUtilization', 'mean utilisation'],
];

export class IdleView implements View {
  readonly element = el('section', { class: 'view idle', 'data-testid': 'view-idle', 'data-ready': 'false' });
  private readonly abort = new AbortController();
  private rows: IdleRow[] = [];
  private sort: Column;
  private descending: boolean;
  private readonly window: string;
  private readonly threshold: number;
  private readonly body = el('tbody');
  private readonly head = el('tr');
  private readonly note = el('p', { class: 'muted loading' }, 'Loading…');

  constructor(query: URLSearchParams) {
    this.window = WINDOWS.some(([name]) => name === query.get('window')) ? (query.get('window') as string) : '1h';
    const threshold = Number(query.get('threshold') ?? '5');
    this.threshold = Number.isFinite(threshold) && threshold >= 0 && threshold <= 100 ? threshold : 5;
    const sort = query.get('sort');
    this.sort = COLUMNS.some(([name]) => name === sort) ? (sort as Column) : 'idleForMs';
    this.descending = query.get('dir') !== 'asc';
    const windowSelect = select('window', WINDOWS.map(([name]) => [name, name] as const), this.window, 'window');
    const thresholdInput = el('input', { type: 'number', name: 'threshold', min: '0', max: '100', step: 'any', value: String(this.threshold), 'aria-label': 'threshold (%)' });
    const form = el('form', { class: 'toolbar' }, el('label', {}, 'Idle over the last ', windowSelect), el('label', {}, ' with mean utilisation below ', thresholdInput, ' %'), el('button', { type: 'submit' }, 'Show'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      navigateTo(form, `/idle?${new URLSearchParams({ window: windowSelect.value, threshold: thresholdInput.value, sort: this.sort, dir: this.descending ? 'desc' : 'asc' }).toString()}`);
    });
    this.element.append(el('nav', { class: 'crumbs' }, el('a', { href: '#/' }, 'Fleet'), ' / idle report'), el('h1', {}, 'Idle GPUs'), form, this.note, el('table', { class: 'idle-table' }, el('thead', {}, this.head), this.body));
  }

  async start(): Promise<void> {
    const [gpus, ...summaries] = await Promise.all([
      getJson<ListAnswer<Gpu>>('/api/v1/gpus', this.abort.signal),
      ...WINDOWS.map(([name]) => getJson<Summary>(`/api/v1/summary?${new URLSearchParams({ window: name, idle_threshold: String(this.threshold) }).toString()}`, this.abort.signal)),
    ]);
    const firstSeen = new Map(gpus.data.map((gpu) => [gpu.id, Date.parse(gpu.first_seen)]));
    const chosen = summaries[WINDOWS.findIndex(([name]) => name === this.window)];
    const asOf = chosen.as_of === null ? Date.now() : Date.parse(chosen.as_of);
    this.rows = chosen.idle.gpus.map((gpu) => {
      const seenForMs = asOf - (firstSeen.get(gpu.id) ?? asOf);
      return { id: gpu.id, hostname: gpu.hostname, gpu: gpu.mig_instance_id === null ? `GPU ${gpu.gpu_id}` : `GPU ${gpu.gpu_id} MIG ${gpu.mig_instance_id}`, meanUtilization: gpu.mean_utilization, idleForMs: idleFor(gpu.id, summaries, seenForMs) };
    });
    this.note.textContent = `${chosen.idle.count} of ${chosen.gpus} GPUs idle over the ${this.window} before ${chosen.as_of === null ? 'any data' : formatClock(chosen.as_of)} (the newest sample). A GPU with no utilisation sample in the window is not idle.`;
    this.note.classList.remove('loading');
    this.draw();
    markReady(this.element);
  }

  dispose(): void {
    this.abort.abort();
  }

  private draw(): void {
    this.head.replaceChildren(
      ...COLUMNS.map(([column, label]) => {
        const button = el('button', { type: 'button', class: 'sort' }, label, this.sort === column ? (this.descending ? ' ▼' : ' ▲') : '');
        button.addEventListener('click', () => {
          this.descending = this.sort === column ? !this.descending : column === 'idleForMs' || column === 'meanUtilization';
          this.sort = column;
          replaceQuery({ window: this.window, threshold: String(this.threshold), sort: this.sort, dir: this.descending ? 'desc' : 'asc' });
          this.draw();
        });
        return el('th', { 'aria-sort': this.sort === column ? (this.descending ? 'descending' : 'ascending') : undefined }, button);
      }),
    );
    const sign = this.descending ? -1 : 1;
    const sorted = [...this.rows].sort((a, b) => {
      const x = a[this.sort];
      const y = b[this.sort];
      const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return order * sign || a.hostname.localeCompare(b.hostname) || a.gpu.localeCompare(b.gpu, undefined, { numeric: true });
    });
    this.body.replaceChildren(
      ...sorted.map((row) =>
        el(
          'tr',
          { 'data-testid': 'idle-row', 'data-id': row.id },
          el('td', {}, el('a', { href: gpuHref(row.id) }, row.gpu)),
          el('td', {}, el('a', { href: hostHref(row.hostname) }, row.hostname)),
          el('td', { 'data-testid': 'idle-for', 'data-ms': String(row.idleForMs) }, row.idleForMs === 0 ? `under ${formatDuration(WINDOWS[0][1])}` : formatDuration(row.idleForMs)),
          el('td', {}, `${row.meanUtilization.toFixed(1)} %`),
        ),
      ),
    );
    if (sorted.length === 0) this.body.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No GPU is idle over this window.')));
  }
}

/**
 * How long `id` has been idle: the windows from the shortest up, stopping at
 * the first where it is not idle (a longer window's mean may dip below the
 * threshold again, which says nothing about the time between), each cut to
 * the time it has been seen.
 */
function idleFor(id: string, summaries: Summary[], seenForMs: number): number {
  let idleForMs = 0;
  for (const [i, [, ms]] of WINDOWS.entries()) {
    if (!summaries[i].idle.gpus.some((other) => other.id === id)) break;
    idleForMs = Math.min(ms, seenForMs);
    // Seen for less than this window: a longer one holds the same samples.
    if (seenForMs <= ms) break;
  }
  return idleForMs;
}
