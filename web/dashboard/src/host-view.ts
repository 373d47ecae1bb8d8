/**
 * The host view (`#/hosts/<hostname>`): the host's GPUs side by side, each
 * with the same charts as the GPU view, on one shared time axis (their
 * crosshairs move together). Requests: `/api/v1/hosts/{hostname}/gpus`
 * once, one columns page per GPU, and one `/ws` subscription to the host.
 */
import { getJson, segment } from './api-client.js';
import type { Gpu, ListAnswer } from './api-types.js';
import { chartControls } from './chart-controls.js';
import { el } from './dom.js';
import { seriesKey } from './fleet-data.js';
import { GpuCharts } from './gpu-charts.js';
import { BufferedSubscription } from './buffered-subscription.js';
import { metricsFromQuery } from './metrics.js';
import { gpuHref, hostHref } from './router.js';
import { rangeFromQuery, windowOf } from './time-range.js';
import { isNotFound, loadingNote, markReady, showNotFound, type View } from './view.js';

const MIN_COLUMN_PX = 300;

export class HostView implements View {
  readonly element = el('section', { class: 'view host', 'data-testid': 'view-host', 'data-ready': 'false' });
  private readonly abort = new AbortController();
  private readonly stops: (() => void)[] = [];
  private readonly charts = new Map<string, GpuCharts>();

  constructor(
    private readonly hostname: string,
    private readonly query: URLSearchParams,
  ) {
    this.element.append(el('h1', {}, hostname), loadingNote());
  }

  async start(): Promise<void> {
    let gpus: Gpu[];
    try {
      gpus = (await getJson<ListAnswer<Gpu>>(`/api/v1/hosts/${segment(this.hostname)}/gpus`, this.abort.signal)).data;
    } catch (error) {
      if (!isNotFound(error)) throw error;
      showNotFound(this.element, `No host named "${this.hostname}" on this gateway.`, error instanceof Error ? error.message : String(error));
      return;
    }
    const range = rangeFromQuery(this.query);
    const metrics = metricsFromQuery(this.query.get('metrics'));
    const newest = Math.max(...gpus.map((gpu) => Date.parse(gpu.last_seen)));
    const span = windowOf(range, newest);
    const width = this.columnWidth(gpus.length);
    const columns = el('div', { class: 'gpu-columns' });
    const byKey = new Map<string, GpuCharts>();
    for (const gpu of gpus) {
      const charts = new GpuCharts(gpu.id, metrics, width, `host:${this.hostname}`, range);
      this.charts.set(gpu.id, charts);
      byKey.set(seriesKey(gpu.hostname, gpu.uuid, gpu.mig_instance_id), charts);
      const mig = gpu.mig_instance_id === null ? '' : ` MIG ${gpu.mig_instance_id}${gpu.mig_profile ? ` (${gpu.mig_profile})` : ''}`;
      columns.append(
        el(
          'div',
          { class: 'gpu-column', 'data-id': gpu.id },
          el('h2', {}, el('a', { href: gpuHref(gpu.id) }, `GPU ${gpu.gpu_id}${mig}`), el('span', { class: `status ${gpu.status}` }, gpu.status)),
          el('p', { class: 'muted small' }, `${gpu.model} · ${gpu.uuid}`),
          charts.element,
        ),
      );
    }
    this.element.replaceChildren(
      el('nav', { class: 'crumbs' }, el('a', { href: '#/' }, 'Fleet'), ' / ', el('a', { href: hostHref(this.hostname) }, this.hostname)),
      el('h1', {}, this.hostname, el('span', { class: 'muted' }, ` ${gpus.length} GPU${gpus.length === 1 ? '' : 's'}`)),
      chartControls(hostHref(this.hostname), range, metrics, span),
      columns,
    );
    // Left meanwhile: dispose() has run, and nothing may be subscribed after it.
    if (this.abort.signal.aborted) return;
    // Subscribed before the history is read, so no record falls between the two.
    const live = range.mode === 'now' ? new BufferedSubscription({ hosts: [this.hostname] }) : undefined;
    if (live !== undefined) this.stops.push(live.stop);
    await Promise.all([...this.charts.values()].map((charts) => charts.load(span.startMs, span.endMs, this.abort.signal)));
    if (this.abort.signal.aborted) return;
    live?.release((record) => byKey.get(seriesKey(record.hostname, record.uuid, record.mig_instance_id))?.appendHeld(record));
    // Charts follow the window's width (the points stay those loaded for the first width).
    const onResize = (): void => {
      const resized = this.columnWidth(gpus.length);
      for (const charts of this.charts.values()) charts.resize(resized);
    };
    window.addEventListener('resize', onResize);
    this.stops.push(() => window.removeEventListener('resize', onResize));
    markReady(this.element);
  }

  /** Each GPU's column width: the view's width shared by the GPUs, never under MIN_COLUMN_PX (the row then scrolls). */
  private columnWidth(gpuCount: number): number {
    const available = this.element.clientWidth || document.body.clientWidth - 48;
    return Math.max(MIN_COLUMN_PX, Math.floor(available / Math.max(1, gpuCount)) - 16);
  }

  dispose(): void {
    this.abort.abort();
    for (const stop of this.stops) stop();
    for (const charts of this.charts.values()) charts.destroy();
  }
}
