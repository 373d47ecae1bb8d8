/**
 * The fleet view (`#/`): every host with its GPUs as tiles coloured by a
 * chosen metric, the fleet's counters, filters and search. Requests: one
 * GraphQL `gpus { latest }` at load and every 30 s (or when a new GPU
 * streams), `/api/v1/summary` every 10 s, `/api/v1/gpus?namespace=` when
 * the namespace filter is set, and one `/ws` subscription for every record.
 */
import { getJson } from './api-client.js';
import type { ListAnswer, Gpu, Summary } from './api-types.js';
import { legendGradient } from './colour-scale.js';
import { el, select } from './dom.js';
import { fetchFleet, type FleetGpu } from './fleet-data.js';
import { formatPower, formatValue } from './format.js';
import { liveSocket } from './live-socket.js';
import { metricNamed, TILE_METRICS, valueOf, type MetricInfo } from './metrics.js';
import { gpuHref, replaceQuery } from './router.js';
import { TileGrid } from './tile-grid.js';
import { every, markReady, type FailureReporter, type View } from './view.js';

const LIST_REFRESH_MS = 30_000;
const SUMMARY_REFRESH_MS = 10_000;
/** A record of a GPU not in the grid asks for the list again, at most this often. */
const NEW_GPU_REFRESH_MS = 3_000;

export class FleetView implements View {
  readonly element = el('section', { class: 'view fleet', 'data-testid': 'view-fleet', 'data-ready': 'false' });
  private readonly grid: TileGrid;
  private metric: MetricInfo;
  private readonly controls: { metric: HTMLSelectElement; host: HTMLSelectElement; model: HTMLSelectElement; status: HTMLSelectElement; namespace: HTMLInputElement; search: HTMLInputElement };
  private readonly counters = {
    active: el('b', { 'data-testid': 'fleet-count-active' }, '…'),
    stale: el('b', { 'data-testid': 'fleet-count-stale' }, '…'),
    idle: el('b', { 'data-testid': 'fleet-count-idle' }, '…'),
    power: el('b', { 'data-testid': 'fleet-power' }, '…'),
    hottest: el('b', { 'data-testid': 'fleet-hottest' }, '…'),
  };
  private readonly shown = el('p', { class: 'muted shown loading', 'data-testid': 'fleet-shown' }, 'Loading…');
  private readonly clearButton = el('button', { type: 'button', class: 'link', 'data-testid': 'clear-filters' }, 'Clear filters');
  private readonly legendLow = el('span');
  private readonly legendHigh = el('span');
  private gpus: FleetGpu[] = [];
  /** Whether a list has loaded (the "shown" line counts from then on). */
  private listed = false;
  private namespaceIds: Set<string> | null = null;
  private readonly stops: (() => void)[] = [];
  private readonly abort = new AbortController();
  private newGpuTimer: number | undefined;

  constructor(
    query: URLSearchParams,
    private readonly fail: FailureReporter,
  ) {
    this.metric = metricNamed(query.get('metric') ?? '') ?? TILE_METRICS[0];
    this.grid = new TileGrid(this.metric);
    const textInput = (name: string, placeholder: string, value: string): HTMLInputElement => el('input', { type: 'search', name, placeholder, 'aria-label': placeholder, value });
    this.controls = {
      metric: select('metric', TILE_METRICS.map((m) => [m.name, m.label] as const), this.metric.name, 'colour tiles by'),
      host: select('host', [['', 'all hosts']], '', 'host'),
      model: select('model', [['', 'all models']], '', 'model'),
      status: select('status', [['', 'any status'], ['active', 'active'], ['stale', 'stale']], query.get('status') ?? '', 'status'),
      namespace: textInput('namespace', 'namespace', query.get('namespace') ?? ''),
      search: textInput('q', 'search id, UUID, host, model', query.get('q') ?? ''),
    };
    // Kept until the list's options exist.
    this.controls.host.dataset.wanted = query.get('host') ?? '';
    this.controls.model.dataset.wanted = query.get('model') ?? '';
    const counter = (label: string, value: HTMLElement, href?: string): HTMLElement => el('div', { class: 'counter' }, value, href ? el('a', { href }, label) : el('span', {}, label));
    this.element.append(
      el('div', { class: 'counters' }, counter('active', this.counters.active), counter('stale', this.counters.stale), counter('idle (1 h)', this.counters.idle, '#/idle'), counter('fleet power', this.counters.power), counter('hottest', this.counters.hottest)),
      el(
        'form',
        { class: 'toolbar', role: 'search' },
        el('label', {}, 'Colour by ', this.controls.metric),
        el('span', { class: 'legend' }, this.legendLow, el('span', { class: 'legend-bar', style: `background: ${legendGradient()}` }), this.legendHigh),
        this.controls.host,
        this.controls.model,
        this.controls.status,
        this.controls.namespace,
        this.controls.search,
      ),
      this.shown,
      this.grid.element,
    );
    this.drawLegend();
    this.controls.metric.addEventListener('change', () => {
      this.metric = metricNamed(this.controls.metric.value) ?? TILE_METRICS[0];
      this.grid.setMetric(this.metric);
      this.drawLegend();
      this.saveQuery();
    });
    for (const control of [this.controls.host, this.controls.model, this.controls.status]) control.addEventListener('change', () => this.filter());
    this.controls.search.addEventListener('input', () => this.filter());
    this.controls.namespace.addEventListener('change', () => {
      this.loadNamespace().catch(fail);
    });
    this.element.querySelector('form')?.addEventListener('submit', (event) => event.preventDefault());
    this.clearButton.addEventListener('click', () => this.clearFilters());
  }

  /** Loads the first data, then follows the fleet live. */
  async start(): Promise<void> {
    await Promise.all([this.loadList(), this.loadSummary(), this.loadNamespace()]);
    this.stops.push(
      liveSocket.subscribe({ metrics: TILE_METRICS.map((m) => m.name) }, (record) => {
        const values = Object.fromEntries(TILE_METRICS.map((m) => [m.name, valueOf(record, m)]));
        const outcome = this.grid.update(record.hostname, record.uuid, record.mig_instance_id, Date.parse(record.timestamp), values);
        if (outcome === 'unknown') this.newGpuSeen();
        // A stale GPU reporting again is active now: a status filter shows or hides it.
        else if (outcome === 'status' && this.controls.status.value !== '') this.filter();
      }),
      every(LIST_REFRESH_MS, () => this.loadList(), this.fail),
      every(SUMMARY_REFRESH_MS, () => this.loadSummary(), this.fail),
    );
    markReady(this.element);
  }

  dispose(): void {
    this.abort.abort();
    for (const stop of this.stops) stop();
    window.clearTimeout(this.newGpuTimer);
    this.grid.dispose();
  }

  private async loadList(): Promise<void> {
    this.gpus = await fetchFleet(this.abort.signal);
    this.listed = true;
    this.grid.setGpus(this.gpus);
    fillOptions(this.controls.host, 'all hosts', this.gpus.map((gpu) => gpu.hostname));
    fillOptions(this.controls.model, 'all models', this.gpus.map((gpu) => gpu.model));
    this.filter();
  }

  private async loadSummary(): Promise<void> {
    const summary = await getJson<Summary>('/api/v1/summary', this.abort.signal);
    this.counters.active.textContent = String(summary.by_status.active);
    this.counters.stale.textContent = String(summary.by_status.stale);
    this.counters.idle.textContent = String(summary.idle.count);
    this.counters.power.textContent = formatPower(summary.power_draw.total);
    const hottest = summary.temperature.hottest;
    const temperature = TILE_METRICS[1];
    this.counters.hottest.replaceChildren(
      hottest === null ? '–' : el('a', { href: gpuHref(hottest.id) }, `${formatValue(hottest.value, temperature)} ${hottest.hostname} GPU ${hottest.gpu_id}${hottest.mig_instance_id === null ? '' : ` MIG ${hottest.mig_instance_id}`}`),
    );
  }

  /** The namespace filter is the API's (a GPU's namespace is that of its newest sample): one request per change. */
  private async loadNamespace(): Promise<void> {
    const namespace = this.controls.namespace.value.trim();
    this.namespaceIds = namespace === '' ? null : new Set((await getJson<ListAnswer<Gpu>>(`/api/v1/gpus?namespace=${encodeURIComponent(namespace)}`, this.abort.signal)).data.map((gpu) => gpu.id));
    this.filter();
  }

  private newGpuSeen(): void {
    this.newGpuTimer ??= window.setTimeout(() => {
      this.loadList()
        .catch(this.fail)
        .finally(() => (this.newGpuTimer = undefined));
    }, NEW_GPU_REFRESH_MS);
  }

  private filter(): void {
    const shown = this.grid.applyFilter({
      host: this.controls.host.value,
      model: this.controls.model.value,
      status: this.controls.status.value,
      search: this.controls.search.value.trim().toLowerCase(),
      ids: this.namespaceIds,
    });
    this.saveQuery();
    // Until a list has come, there is nothing to count: "No GPU has reported yet" would be wrong (the list may wait for a key).
    if (!this.listed) return;
    this.shown.classList.remove('loading');
    // What is shown, for tests and tools that read the page.
    this.shown.dataset.gpus = String(shown.gpus);
    this.shown.dataset.hosts = String(shown.hosts);
    if (this.gpus.length === 0) this.shown.replaceChildren('No GPU has reported yet.');
    else if (shown.gpus === 0) this.shown.replaceChildren('No GPU matches these filters. ', this.clearButton);
    else this.shown.replaceChildren(`${shown.gpus} of ${this.gpus.length} GPUs shown, on ${shown.hosts} host${shown.hosts === 1 ? '' : 's'}.`, shown.gpus < this.gpus.length ? ' ' : '', shown.gpus < this.gpus.length ? this.clearButton : '');
  }

  /** Empties every filter and the search (the colouring metric stays), and shows the whole fleet. */
  private clearFilters(): void {
    const { host, model, status, namespace, search } = this.controls;
    for (const control of [host, model, status]) {
      control.value = '';
      delete control.dataset.wanted;
    }
    search.value = '';
    const hadNamespace = namespace.value.trim() !== '';
    namespace.value = '';
    if (hadNamespace) this.loadNamespace().catch(this.fail);
    else this.filter();
  }

  private drawLegend(): void {
    this.legendLow.textContent = formatValue(this.metric.low, this.metric);
    this.legendHigh.textContent = formatValue(this.metric.high, this.metric);
  }

  private saveQuery(): void {
    // A load that ends after the user left this view must not write the fleet's choices into the next view's URL.
    if (this.abort.signal.aborted) return;
    const { metric, host, model, status, namespace, search } = this.controls;
    // Host and model from the URL wait in data-wanted until a list gives their options: a failed load must not drop them from the URL.
    const chosen = (control: HTMLSelectElement): string => control.dataset.wanted || control.value;
    replaceQuery({ metric: metric.value === TILE_METRICS[0].name ? '' : metric.value, host: chosen(host), model: chosen(model), status: status.value, namespace: namespace.value.trim(), q: search.value.trim() });
  }
}

/** Sets a filter's options to these values (sorted, once each), keeping the choice, or the URL's until the list has it. */
function fillOptions(control: HTMLSelectElement, allLabel: string, values: string[]): void {
  const wanted = control.dataset.wanted || control.value;
  const unique = [...new Set(values)].sort();
  if (wanted !== '' && !unique.includes(wanted)) unique.push(wanted);
  const current = [...control.options].map((option) => option.value).join('\n');
  if (current === ['', ...unique].join('\n')) return;
  control.replaceChildren(el('option', { value: '' }, allLabel), ...unique.map((value) => el('option', { value }, value)));
  control.value = wanted;
  delete control.dataset.wanted;
}
