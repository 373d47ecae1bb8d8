/**
 * The GPU view (`#/gpus/<id>`): metadata, newest values, the Kubernetes pod
 * and namespace holding it, and a chart per chosen metric. Requests:
 * `/api/v1/gpus/{id}` once, its telemetry as columns (one page), and one
 * `/ws` subscription to this GPU's records ("now" mode). Live records
 * update the newest values, "last seen" and the status, and every "ago"
 * counts on each second.
 */
import { getJson, segment } from './api-client.js';
import type { GpuDetail, TelemetryRecord } from './api-types.js';
import { chartControls } from './chart-controls.js';
import { el } from './dom.js';
import { formatValue } from './format.js';
import { GpuCharts } from './gpu-charts.js';
import { BufferedSubscription } from './buffered-subscription.js';
import { METRICS, metricsFromQuery, valueOf } from './metrics.js';
import { gpuHref, hostHref } from './router.js';
import { seriesKey } from './fleet-data.js';
import { RelativeTimes } from './relative-times.js';
import { rangeFromQuery, windowOf } from './time-range.js';
import { isNotFound, loadingNote, markReady, showNotFound, type View } from './view.js';

export class GpuView implements View {
  readonly element = el('section', { class: 'view gpu', 'data-testid': 'view-gpu', 'data-ready': 'false' });
  private readonly abort = new AbortController();
  private readonly stops: (() => void)[] = [];
  private charts: GpuCharts | undefined;
  private readonly latestCells = new Map<string, HTMLElement>();
  private readonly times = new RelativeTimes();
  private readonly lastSeen = el('dd', { 'data-testid': 'gpu-last-seen' });
  private readonly status = el('span', { class: 'status' });
  /** The GPU's newest time known (epoch ms): its `last_seen`, then that of any newer live record. */
  private lastSeenMs = -Infinity;

  constructor(
    private readonly id: string,
    private readonly query: URLSearchParams,
  ) {
    this.element.append(el('h1', {}, `GPU ${id}`), loadingNote());
  }

  async start(): Promise<void> {
    let gpu: GpuDetail;
    try {
      gpu = (await getJson<{ data: GpuDetail }>(`/api/v1/gpus/${segment(this.id)}`, this.abort.signal)).data;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      showNotFound(this.element, `No GPU with the id "${this.id}" on this gateway.`, error instanceof Error ? error.message : String(error));
      return;
    }
    const range = rangeFromQuery(this.query);
    const metrics = metricsFromQuery(this.query.get('metrics'));
    const span = windowOf(range, Date.parse(gpu.last_seen));
    const width = Math.min(1100, Math.max(320, this.element.clientWidth || document.body.clientWidth - 48));
    this.charts = new GpuCharts(gpu.id, metrics, width, `gpu:${gpu.id}`, range);
    const firstSeen = el('dd', {});
    this.times.show(firstSeen, Date.parse(gpu.first_seen));
    this.showLastSeen(Date.parse(gpu.last_seen), gpu.status);
    const mig = gpu.mig_instance_id === null ? '' : ` · MIG instance ${gpu.mig_instance_id}${gpu.mig_profile ? ` (${gpu.mig_profile})` : ''}`;
    this.element.replaceChildren(
      el('nav', { class: 'crumbs' }, el('a', { href: '#/' }, 'Fleet'), ' / ', el('a', { href: hostHref(gpu.hostname) }, gpu.hostname), ' / ', el('a', { href: gpuHref(gpu.id) }, gpu.mig_instance_id === null ? `GPU ${gpu.gpu_id}` : `GPU ${gpu.gpu_id} MIG ${gpu.mig_instance_id}`)),
      el('h1', {}, `${gpu.hostname} · GPU ${gpu.gpu_id}${mig}`, this.status),
      el(
        'div',
        { class: 'facts' },
        facts([
          ['id', gpu.id],
          ['UUID', gpu.uuid],
          ['model', gpu.model],
          ['device', gpu.device],
          ['driver', gpu.driver_version ?? '–'],
          ['MIG', gpu.mig_instance_id === null ? 'whole GPU' : `instance ${gpu.mig_instance_id}${gpu.mig_profile ? `, profile ${gpu.mig_profile}` : ''}`],
          ['namespace', gpu.namespace ?? '– (no workload)'],
          ['pod', gpu.pod ?? '–'],
          ['container', gpu.container ?? '–'],
          ['first seen', firstSeen],
          ['last seen', this.lastSeen],
        ]),
        this.latestTable(gpu.latest),
      ),
      chartControls(gpuHref(gpu.id), range, metrics, span),
      this.charts.element,
    );
    // Left meanwhile: dispose() has run, and nothing may be subscribed after it.
    if (this.abort.signal.aborted) return;
    // Subscribed before the history is read, so no record falls between the two.
    const live = range.mode === 'now' ? new BufferedSubscription({ gpus: [gpu.id] }) : undefined;
    if (live !== undefined) this.stops.push(live.stop);
    const charts = this.charts;
    await charts.load(span.startMs, span.endMs, this.abort.signal);
    if (this.abort.signal.aborted) return;
    if (live !== undefined) {
      const key = seriesKey(gpu.hostname, gpu.uuid, gpu.mig_instance_id);
      let latestMs = gpu.latest === null ? -Infinity : Date.parse(gpu.latest.timestamp);
      live.release((record) => {
        // A UUID id selects every series of that GPU on the stream: keep this one's.
        if (seriesKey(record.hostname, record.uuid, record.mig_instance_id) !== key) return;
        charts.appendHeld(record);
        const ms = Date.parse(record.timestamp);
        // It just reported: active whatever the GPU's detail said, as its fleet tile turns.
        if (ms > this.lastSeenMs) this.showLastSeen(ms, 'active');
        if (ms < latestMs) return;
        latestMs = ms;
        this.showLatest(record);
      });
    }
    const onResize = (): void => this.charts?.resize(Math.min(1100, Math.max(320, this.element.clientWidth)));
    window.addEventListener('resize', onResize);
    this.stops.push(() => window.removeEventListener('resize', onResize));
    markReady(this.element);
  }

  dispose(): void {
    this.abort.abort();
    for (const stop of this.stops) stop();
    this.times.stop();
    this.charts?.destroy();
  }

  private latestTable(latest: TelemetryRecord | null): HTMLElement {
    const rows = METRICS.map((metric) => {
      const cell = el('td', {}, latest === null ? '–' : formatValue(valueOf(latest, metric), metric));
      this.latestCells.set(metric.name, cell);
      return el('tr', {}, el('th', {}, metric.label), cell);
    });
    const at = el('td', {}, 'no sample yet');
    if (latest !== null) this.times.show(at, Date.parse(latest.timestamp));
    this.latestCells.set('timestamp', at);
    return el('table', { class: 'latest', 'data-testid': 'gpu-latest' }, el('caption', {}, 'Newest values'), el('tbody', {}, el('tr', {}, el('th', {}, 'at'), at), ...rows));
  }

  private showLatest(record: TelemetryRecord): void {
    for (const metric of METRICS) {
      const value = valueOf(record, metric);
      if (value !== null) this.latestCells.get(metric.name)?.replaceChildren(formatValue(value, metric));
    }
    const at = this.latestCells.get('timestamp');
    if (at !== undefined) this.times.show(at, Date.parse(record.timestamp));
  }

  private showLastSeen(ms: number, status: string): void {
    this.lastSeenMs = ms;
    this.times.show(this.lastSeen, ms);
    this.status.className = `status ${status}`;
    this.status.textContent = status;
  }
}

/** A definition list of label/value pairs; a value that is a <dd> already (one updated later) is used as it is. */
export function facts(pairs: readonly (readonly [string, string | HTMLElement])[]): HTMLElement {
  return el('dl', { class: 'meta' }, ...pairs.flatMap(([label, value]) => [el('dt', {}, label), typeof value === 'string' ? el('dd', {}, value) : value]));
}
